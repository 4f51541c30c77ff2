import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { runEmbeddedDemo } from './embedded-demo';
import { LedgerLogger } from './ledger.logger';
import { runNatsDriver } from './nats-driver';
import { runNatsNode } from './nats-node';

/**
 * The ledger demo (the example itself is ../src; src/main.ts boots one plain node).
 *
 *   npm start                                   3 nodes + a publisher in this process (embedded bus), self-check, exit 0/1
 *   NATS_URL=nats://host:4222 npm start         one node on NATS (NODE_NAME, default random) that logs ring changes
 *                                               and its activity, until SIGTERM/SIGINT
 *   NATS_URL=... npm start -- --drive           (or DRIVE=1) a publisher that drives a workload and checks balances, exit 0/1
 *
 * `--accounts=N`, `--commands=N` and `--seed=N` size the workload of the demo and the driver.
 */
async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number | undefined> {
  const flags = parseFlags(argv);
  const workload = { accounts: flags.get('accounts'), commands: flags.get('commands'), seed: flags.get('seed') };
  const drive = flags.has('drive') || env['DRIVE'] === '1';
  const servers = env['NATS_URL'];
  const logger = new LedgerLogger();
  if (servers === undefined || servers === '') {
    if (drive) throw new Error('--drive sends to ledger nodes on NATS: set NATS_URL (for example nats://127.0.0.1:4222)');
    const defined = Object.fromEntries(Object.entries(workload).filter(([, value]) => value !== undefined));
    return (await runEmbeddedDemo({ workload: defined, logger })).ok ? 0 : 1;
  }
  if (drive) return (await runNatsDriver({ servers, ...workload, logger })) ? 0 : 1;
  await runNatsNode({ servers, nodeName: env['NODE_NAME'] || `ledger-${randomBytes(3).toString('hex')}`, logger });
  // Serving until a signal: the shutdown hooks end the process.
  return undefined;
}

/** `--name` and `--name=<integer>` flags; anything else is an error that names the flag. */
function parseFlags(argv: readonly string[]): Map<string, number | undefined> {
  const flags = new Map<string, number | undefined>();
  for (const arg of argv) {
    const match = /^--(drive|accounts|commands|seed)(?:=(\d+))?$/.exec(arg);
    if (match === null || (match[1] === 'drive') === (match[2] !== undefined)) {
      throw new Error(`unknown argument "${arg}": expected --drive, --accounts=N, --commands=N or --seed=N`);
    }
    flags.set(match[1], match[2] === undefined ? undefined : Number(match[2]));
  }
  return flags;
}

main(process.argv.slice(2), process.env).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  },
);
