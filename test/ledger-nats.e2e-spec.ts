import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlowClient } from 'nestjs-flow';
import { startPublisher } from '../apps/ledger/demo/ledger-apps';
import { compareBalances, planWorkload, queryBalances, type BalanceMismatch, type WorkloadPlan } from '../apps/ledger/demo/workload';
import { LEDGER_CLIQUE } from '../apps/ledger/src/ledger.streams';
import { startNatsServer, type NatsServer } from './harness/nats-server';

/**
 * The example service as an operator runs it: ledger nodes and a driver, each
 * its own process on one nats-server, then SIGTERM to the nodes. Covers the
 * NATS modes of the demo (apps/ledger/demo/main.ts), the example's own
 * one-node bootstrap (apps/ledger/src/main.ts) in the same clique, and the
 * shutdown path through enableShutdownHooks with a real signal, after which
 * the leaving node's balances reach the survivor through NATS KV (the server
 * runs JetStream).
 */
const ROOT = join(__dirname, '..');
const DEMO_MAIN = join(ROOT, 'apps', 'ledger', 'demo', 'main.ts');
const EXAMPLE_MAIN = join(ROOT, 'apps', 'ledger', 'src', 'main.ts');
const TS_REGISTER = join(ROOT, 'test', 'support', 'ts-register.js');

interface Running {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves once the output from offset `since` (default 0) on contains `text`; rejects after `ms`. */
  waitFor(text: string, ms: number, since?: number): Promise<void>;
  /** Resolves with the exit code, or the signal that ended the process; rejects after `ms`. */
  exit(ms: number): Promise<number | NodeJS.Signals | null>;
}

const started: ChildProcess[] = [];

function run(main: string, args: string[], env: Record<string, string>): Running {
  const child = spawn(process.execPath, ['-r', TS_REGISTER, main, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let text = '';
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer): void => {
    text += chunk.toString('utf8');
    for (const listener of [...listeners]) listener();
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  return {
    child,
    output: () => text,
    waitFor: (wanted, ms, since = 0) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (text.indexOf(wanted, since) < 0) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`no "${wanted}" within ${ms} ms; output:\n${text}`));
        }, ms);
        listeners.add(check);
        check();
      }),
    exit: (ms) =>
      Promise.race([
        exited,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`still running after ${ms} ms; output:\n${text}`)), ms).unref(),
        ),
      ]),
  };
}

/**
 * The balances of a driver's workload as the owners answer them, asked again
 * (at most `rounds` rounds) while some differ: a balance handed over through
 * NATS KV is added when the owner's watch has seen it.
 */
async function balancesAfter(servers: string, plan: WorkloadPlan, rounds: number): Promise<BalanceMismatch[]> {
  const app = await startPublisher({ servers, clique: LEDGER_CLIQUE, nodeName: 'ledger-e2e-checker' }, false);
  try {
    let mismatches: BalanceMismatch[] = [];
    for (let round = 0; round < rounds; round++) {
      mismatches = compareBalances(plan, await queryBalances(app.get(FlowClient), plan.accounts));
      if (mismatches.length === 0) break;
    }
    return mismatches;
  } finally {
    await app.close();
  }
}

describe('the ledger example on NATS', () => {
  let server: NatsServer;
  let storeDir: string;

  beforeAll(async () => {
    storeDir = await mkdtemp(join(tmpdir(), 'ledger-kv-'));
    server = await startNatsServer({ jetstream: { storeDir } });
  });

  afterAll(async () => {
    for (const child of started) {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }
    await server.stop();
    await rm(storeDir, { recursive: true, force: true });
  });

  it('serves a driver from two nodes; a SIGTERM makes a node leave the ring and exit 0, and its balances live on', async () => {
    const env = { NATS_URL: server.url };
    const a = run(DEMO_MAIN, [], { ...env, NODE_NAME: 'ledger-a' });
    const b = run(DEMO_MAIN, [], { ...env, NODE_NAME: 'ledger-b' });
    await Promise.all([a.waitFor('512 positions, 2 nodes', 30_000), b.waitFor('512 positions, 2 nodes', 30_000)]);

    const driver = run(DEMO_MAIN, ['--drive', '--accounts=40', '--commands=2000', '--seed=3'], env);
    expect(await driver.exit(60_000)).toBe(0);
    // Each node logs what it applied within a second of the last command.
    await Promise.all([a.waitFor('commands on', 5_000), b.waitFor('commands on', 5_000)]);

    // The driver's accounts start at a random number it prints; the seed gives the rest of its plan.
    const first = /accounts acc-(\d+)\.\./.exec(driver.output());
    expect(first).not.toBeNull();
    const plan = planWorkload({ seed: 3, accounts: 40, commands: 2000, firstAccount: Number(first![1]) });

    a.child.kill('SIGTERM');
    expect(await a.exit(20_000)).toBe(0);
    expect(a.output()).toMatch(/SIGTERM: left the ring; .*handed over [1-9]\d* balances/);
    await b.waitFor('256 positions, 1 node', 10_000);
    // Every balance, including those ledger-a held, as the survivor answers it.
    expect(await balancesAfter(server.url, plan, 20)).toEqual([]);

    // The survivor now owns every account: a fresh workload still checks out.
    const again = run(DEMO_MAIN, ['--drive', '--accounts=20', '--commands=500', '--seed=4'], env);
    expect(await again.exit(60_000)).toBe(0);

    b.child.kill('SIGINT');
    expect(await b.exit(20_000)).toBe(0);
  });

  it("takes the example's own main.ts as a node of the same clique, which serves a driver and leaves the ring on SIGTERM", async () => {
    const env = { NATS_URL: server.url };
    const demo = run(DEMO_MAIN, [], { ...env, NODE_NAME: 'ledger-d' });
    await demo.waitFor('holds 256 ring positions', 30_000);
    const joined = demo.output().length;
    const example = run(EXAMPLE_MAIN, [], { ...env, NODE_NAME: 'ledger-e' });
    await example.waitFor(`node ledger-e (key `, 30_000);
    expect(example.output()).toContain(`serving on ${server.url}`);
    await demo.waitFor('512 positions, 2 nodes', 10_000, joined);

    const driver = run(DEMO_MAIN, ['--drive', '--accounts=40', '--commands=1000', '--seed=5'], env);
    expect(await driver.exit(60_000)).toBe(0);
    // Both nodes answered: the driver's table has a row per owner node key.
    expect(driver.output().match(/^[0-9a-f]{16}\s+\d+\s+\d+$/gm)).toHaveLength(2);

    // Nest's default shutdown hook closes the app, then raises the signal again: the process ends by SIGTERM.
    const left = demo.output().length;
    example.child.kill('SIGTERM');
    expect(await example.exit(20_000)).toBe('SIGTERM');
    // "left", not "suspected": the node said goodbye (LEAV) while closing, it did not just vanish.
    await demo.waitFor('ring changed (256 positions left): 256 positions, 1 node', 10_000, left);

    demo.child.kill('SIGTERM');
    expect(await demo.exit(20_000)).toBe(0);
  });

  it("runs the example's main.ts on the embedded transport without NATS_URL, until SIGTERM", async () => {
    const example = run(EXAMPLE_MAIN, [], { NATS_URL: '', NODE_NAME: 'ledger-alone' });
    await example.waitFor('node ledger-alone (key ', 30_000);
    expect(example.output()).toContain('serving on the embedded transport');

    example.child.kill('SIGTERM');
    // Nest's shutdown hook closes the app, then re-raises the signal; on the embedded transport nothing
    // holds the event loop after the close, so the process may also end by itself first (exit 0).
    expect(['SIGTERM', 0]).toContain(await example.exit(20_000));
  });
});
