import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { startNatsServer, type NatsServer } from './harness/nats-server';

/**
 * The example service as an operator runs it: two ledger nodes and a driver,
 * each its own process on one nats-server, then SIGTERM to one node. Covers
 * the NATS modes of apps/ledger and the shutdown path through
 * enableShutdownHooks with a real signal.
 */
const ROOT = join(__dirname, '..');
const MAIN = join(ROOT, 'apps', 'ledger', 'src', 'main.ts');
const TS_REGISTER = join(ROOT, 'test', 'support', 'ts-register.js');

interface Running {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves once the output contains `text`; rejects after `ms`. */
  waitFor(text: string, ms: number): Promise<void>;
  /** Resolves with the exit code; rejects after `ms`. */
  exit(ms: number): Promise<number | null>;
}

const started: ChildProcess[] = [];

function run(args: string[], env: Record<string, string>): Running {
  const child = spawn(process.execPath, ['-r', TS_REGISTER, MAIN, ...args], {
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
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => text,
    waitFor: (wanted, ms) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (!text.includes(wanted)) return;
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

describe('the ledger example on NATS', () => {
  let server: NatsServer;

  beforeAll(async () => {
    server = await startNatsServer();
  });

  afterAll(async () => {
    for (const child of started) if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    await server.stop();
  });

  it('serves a driver from two nodes, and a SIGTERM makes a node leave the ring and exit 0', async () => {
    const env = { NATS_URL: server.url };
    const a = run([], { ...env, NODE_NAME: 'ledger-a' });
    const b = run([], { ...env, NODE_NAME: 'ledger-b' });
    await Promise.all([a.waitFor('512 positions, 2 nodes', 30_000), b.waitFor('512 positions, 2 nodes', 30_000)]);

    const driver = run(['--drive', '--accounts=40', '--commands=2000', '--seed=3'], env);
    expect(await driver.exit(60_000)).toBe(0);
    // Each node logs what it applied within a second of the last command.
    await Promise.all([a.waitFor('commands on', 5_000), b.waitFor('commands on', 5_000)]);

    a.child.kill('SIGTERM');
    expect(await a.exit(20_000)).toBe(0);
    expect(a.output()).toContain('SIGTERM: left the ring');
    await b.waitFor('256 positions, 1 node', 10_000);

    // The survivor now owns every account: a fresh workload still checks out.
    const again = run(['--drive', '--accounts=20', '--commands=500', '--seed=4'], env);
    expect(await again.exit(60_000)).toBe(0);

    b.child.kill('SIGINT');
    expect(await b.exit(20_000)).toBe(0);
  });
});
