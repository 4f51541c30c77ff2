import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { BenchCommand, BenchMessage } from './bench-protocol';

const REPO_ROOT = resolve(__dirname, '..', '..');
const WORKER_FILE = join(__dirname, 'bench-worker.ts');
/** Transpiles TypeScript with an on-disk cache: a worker starts in a fraction of ts-node's time. */
const TS_REGISTER = join(REPO_ROOT, 'test', 'support', 'ts-register.js');

/** Rejects after `ms` unless `promise` settles first. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/** The parent's handle on one bench worker. */
export class BenchProcess {
  /** Distinct messages the worker has received or handled, as it last reported. */
  distinct = 0;
  /** Called after each progress report. */
  onProgress: (() => void) | undefined;
  readonly exited: Promise<void>;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private lastId = 0;
  private output = '';
  /**
   * The worker's scavenges since resetScavenges(), when it runs with
   * --trace-gc-nvp: the bytes each kept in the young generation, and promoted
   * to the old one. Objects that keep surviving make V8 grow the young
   * generation, and with it the process's RSS (bench/young-gen.bench.ts).
   */
  readonly scavenges = { survived: [] as number[], promoted: [] as number[] };
  private unparsed = '';

  private constructor(
    readonly label: string,
    private readonly child: ChildProcess,
    tracesGc: boolean,
  ) {
    const collect = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString('utf8')).slice(-8192);
    };
    child.stdout?.on('data', collect);
    if (tracesGc) child.stdout?.on('data', (chunk: Buffer) => this.readGcTrace(chunk.toString('utf8')));
    child.stderr?.on('data', collect);
    child.on('message', (message: BenchMessage) => {
      if (message.kind === 'progress') {
        this.distinct = message.distinct;
        this.onProgress?.();
      } else if (message.kind === 'reply') {
        const pending = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.ok) pending?.resolve(message.value);
        else pending?.reject(new Error(`${label}: ${message.error}`));
      }
    });
    // 'close', not 'exit': a child's last IPC messages can still be unread when 'exit' fires.
    this.exited = new Promise((done) =>
      child.once('close', (code, signal) => {
        const error = new Error(`${label} exited with ${code ?? signal}:\n${this.output}`);
        for (const { reject } of this.pending.values()) reject(error);
        this.pending.clear();
        done();
      }),
    );
  }

  /** Spawns a worker (with extra Node flags, e.g. --cpu-prof) and waits for its hello. */
  static async spawn(label: string, nodeFlags: readonly string[] = []): Promise<BenchProcess> {
    const child = spawn(process.execPath, [...nodeFlags, '-r', TS_REGISTER, WORKER_FILE], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    const worker = new BenchProcess(label, child, nodeFlags.includes('--trace-gc-nvp'));
    const hello = new Promise<void>((done, fail) => {
      child.once('message', () => done());
      void worker.exited.then(() => fail(new Error(`${label} exited before hello:\n${worker.output}`)));
    });
    await within(hello, 30_000, `hello from ${label}`).catch(async (error: unknown) => {
      worker.kill();
      throw error;
    });
    return worker;
  }

  /**
   * Starts and stops one worker before anything is measured: after a change to
   * the bench's sources, the first workers transpile them (ts-register's cache)
   * and keep the TypeScript compiler in memory, about 26 MiB of heap that the
   * first roles' memory and CPU would count.
   */
  static async warmTranspileCache(): Promise<void> {
    const worker = await BenchProcess.spawn('warm-up');
    await worker.exit();
  }

  resetScavenges(): void {
    this.scavenges.survived.length = 0;
    this.scavenges.promoted.length = 0;
  }

  /** One line per collection; a scavenge's says gc=s. */
  private readGcTrace(text: string): void {
    const lines = (this.unparsed + text).split('\n');
    this.unparsed = lines.pop()!;
    for (const line of lines) {
      if (!line.includes(' gc=s ')) continue;
      const survived = /new_space_survived=(\d+)/.exec(line);
      const promoted = / promoted=(\d+)/.exec(line);
      if (survived === null || promoted === null) continue;
      this.scavenges.survived.push(Number(survived[1]));
      this.scavenges.promoted.push(Number(promoted[1]));
    }
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  call<T>(command: BenchCommand, timeoutMs = 30_000): Promise<T> {
    const id = ++this.lastId;
    const answered = new Promise<unknown>((resolveCall, rejectCall) => {
      this.pending.set(id, { resolve: resolveCall, reject: rejectCall });
    });
    this.child.send({ id, command });
    return within(answered, timeoutMs, `${this.label}: ${command.type}`) as Promise<T>;
  }

  /** Tells a paced publisher how many messages the receivers have taken. */
  sendCredit(credit: number): void {
    if (this.child.connected) this.child.send({ credit });
  }

  /** Asks the worker to close its connections and exit; SIGKILL if it does not within the bound. */
  async exit(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await this.call({ type: 'exit' }, 15_000).catch(() => this.kill());
    await within(this.exited, 15_000, `${this.label} to exit`).catch(() => this.kill());
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
