import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { ParentMessage, WorkerCommand, WorkerMessage } from './bench-ipc';

const REPO_ROOT = resolve(__dirname, '..', '..', '..');
const WORKER_FILE = join(__dirname, 'nest-bench-worker.ts');
/** Transpiles TypeScript with an on-disk cache: a worker starts without loading the compiler. */
const TS_REGISTER = join(REPO_ROOT, 'test', 'support', 'ts-register.js');
const HELLO_MS = 30_000;
const EXIT_MS = 15_000;

/** Rejects after `ms` unless `promise` settles first. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/**
 * The parent's handle on one bench worker process. It is stopped by its own
 * PID (exit command, then SIGKILL after a bound), never by name.
 */
export class WorkerProcess {
  /** The latest event count the worker reported. */
  events = 0;
  /** Called after each progress report. */
  onProgress: (() => void) | undefined;
  readonly exited: Promise<void>;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  #lastId = 0;
  #output = '';

  private constructor(
    readonly label: string,
    private readonly child: ChildProcess,
  ) {
    const collect = (chunk: Buffer): void => {
      this.#output = (this.#output + chunk.toString('utf8')).slice(-8192);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.on('message', (message: WorkerMessage) => this.#onMessage(message));
    // 'close', not 'exit': a child's last IPC messages can still be unread when 'exit' fires.
    this.exited = new Promise((done) =>
      child.once('close', (code, signal) => {
        const error = new Error(`${label} exited with ${code ?? signal}:\n${this.#output}`);
        for (const { reject } of this.#pending.values()) reject(error);
        this.#pending.clear();
        done();
      }),
    );
  }

  /** Spawns a worker (with extra Node flags, e.g. --cpu-prof) and waits for its hello. */
  static async spawn(label: string, nodeFlags: readonly string[] = []): Promise<WorkerProcess> {
    const child = spawn(process.execPath, [...nodeFlags, '-r', TS_REGISTER, WORKER_FILE], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    const worker = new WorkerProcess(label, child);
    const hello = new Promise<void>((done, fail) => {
      child.once('message', () => done());
      void worker.exited.then(() => fail(new Error(`${label} exited before hello:\n${worker.#output}`)));
    });
    await within(hello, HELLO_MS, `hello from ${label}`).catch((error: unknown) => {
      worker.kill();
      throw error;
    });
    return worker;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  call<T>(command: WorkerCommand, timeoutMs = 30_000): Promise<T> {
    const id = ++this.#lastId;
    const answered = new Promise<unknown>((resolveCall, rejectCall) => {
      this.#pending.set(id, { resolve: resolveCall, reject: rejectCall });
    });
    this.#send({ kind: 'call', id, command });
    return within(answered, timeoutMs, `${this.label}: ${command.type}`) as Promise<T>;
  }

  /** Tells a publisher how many events the consumers have handled. */
  credit(handled: number): void {
    this.#send({ kind: 'credit', handled });
  }

  /** Asks the worker to close its app and exit; SIGKILL (by PID) if it does not within the bound. */
  async exit(): Promise<void> {
    if (!this.#alive()) return;
    await this.call({ type: 'exit' }, EXIT_MS).catch(() => this.kill());
    await within(this.exited, EXIT_MS, `${this.label} to exit`).catch(() => this.kill());
  }

  kill(): void {
    if (this.#alive()) process.kill(this.pid, 'SIGKILL');
  }

  #alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  #send(message: ParentMessage): void {
    if (this.child.connected) this.child.send(message);
  }

  #onMessage(message: WorkerMessage): void {
    if (message.kind === 'progress') {
      this.events = message.events;
      this.onProgress?.();
    } else if (message.kind === 'reply') {
      const pending = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      if (message.ok) pending?.resolve(message.value);
      else pending?.reject(new Error(`${this.label}: ${message.error}`));
    }
  }
}
