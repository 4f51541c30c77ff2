import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { PubSubStatus } from 'nestjs-flow/core';
import { within } from '../harness/within';
import type {
  PublishSpec,
  RequestBody,
  WireError,
  WorkerCommand,
  WorkerConfig,
  WorkerEvent,
  WorkerMessage,
  WorkerResults,
} from './worker-protocol';

const REPO_ROOT = resolve(__dirname, '..', '..');
const WORKER_FILE = join(__dirname, 'broker-worker.ts');
const TS_REGISTER = join(__dirname, 'ts-register.js');
const HELLO_TIMEOUT_MS = 20_000;
const COMMAND_TIMEOUT_MS = 20_000;
const EXIT_TIMEOUT_MS = 5_000;
const OUTPUT_LIMIT = 16 * 1024;

/** A command the worker answered with an error; `wire` is that error as the worker saw it. */
export class WorkerCommandError extends Error {
  override readonly name = 'WorkerCommandError';
  constructor(
    readonly command: string,
    readonly wire: WireError,
  ) {
    super(`${command} failed in the worker: ${wire.name} ${wire.code ?? ''}: ${wire.message}`);
  }
}

/**
 * The parent's handle on one broker worker process (broker-worker.ts).
 * Every command and every wait is bounded; when the child exits, pending
 * commands reject with its last output.
 *
 * Its fields mirror the latest events from the child: ring size, handled and
 * received counts, connection statuses. `until` re-checks a condition on
 * each event, so tests wait for events instead of polling.
 */
export class BrokerProcess {
  readonly pid: number;
  /** The configuration of the last start command; restart() reuses it. */
  config: WorkerConfig | undefined;
  ringSize = 0;
  /** Child wall-clock time of the last ring change. */
  ringAt = 0;
  ringEvents = 0;
  handled = 0;
  received = 0;
  published = 0;
  readonly statuses: { status: PubSubStatus; at: number }[] = [];
  /** Identity conflicts and incompatible members the broker reported, in order. */
  readonly problems: { code: string; message: string; at: number }[] = [];
  /** How the process exited ('0', '1', 'SIGKILL', ...); undefined while it runs. */
  exit: string | undefined;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private readonly listeners = new Set<() => void>();
  private readonly exited: Promise<void>;
  private lastId = 0;
  private output = '';

  private constructor(
    readonly label: string,
    private readonly child: ChildProcess,
  ) {
    this.pid = child.pid ?? -1;
    const collect = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.on('message', (message: WorkerMessage) => this.onMessage(message));
    // 'close', not 'exit': a child's last IPC messages (a reply to close, sent
    // just before it exits) can still be unread when 'exit' fires.
    this.exited = new Promise<void>((done) =>
      child.once('close', (code, signal) => {
        this.exit = String(code ?? signal);
        const error = new Error(`${label} (pid ${this.pid}) exited with ${code ?? signal}; output:\n${this.output}`);
        for (const { reject } of this.pending.values()) reject(error);
        this.pending.clear();
        this.notify();
        done();
      }),
    );
  }

  /** Spawns a worker and resolves once it has said hello. */
  static async spawn(label: string): Promise<BrokerProcess> {
    const child = spawn(process.execPath, ['--enable-source-maps', '-r', TS_REGISTER, WORKER_FILE], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    const worker = new BrokerProcess(label, child);
    const hello = new Promise<void>((done, fail) => {
      child.once('message', () => done());
      child.once('error', fail);
      void worker.exited.then(() => fail(new Error(`${label} exited before hello:\n${worker.output}`)));
    });
    try {
      await within(hello, HELLO_TIMEOUT_MS, `hello from ${label}`);
    } catch (error) {
      await worker.kill();
      throw error;
    }
    return worker;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** What the child printed last (for failure messages). */
  logs(): string {
    return this.output;
  }

  async start(config: WorkerConfig): Promise<WorkerResults['start']> {
    this.config = config;
    return this.call({ type: 'start', config });
  }

  snapshot(): Promise<WorkerResults['snapshot']> {
    return this.call({ type: 'snapshot' });
  }

  counters(): Promise<WorkerResults['counters']> {
    return this.call({ type: 'counters' });
  }

  ownerOf(keys: readonly string[]): Promise<WorkerResults['owner-of']> {
    return this.call({ type: 'owner-of', keys });
  }

  publish(spec: PublishSpec, timeoutMs = COMMAND_TIMEOUT_MS): Promise<WorkerResults['publish']> {
    return this.call({ type: 'publish', spec }, timeoutMs);
  }

  requests(
    stream: string,
    timeout: number,
    items: readonly { key: string; body: RequestBody }[],
  ): Promise<WorkerResults['requests']> {
    return this.call({ type: 'requests', stream, timeout, items }, timeout + COMMAND_TIMEOUT_MS);
  }

  settle(timeoutMs = 10_000): Promise<WorkerResults['settle']> {
    return this.call({ type: 'settle', timeoutMs }, timeoutMs + 2_000);
  }

  /** Closes the broker and its connection; the worker exits afterwards. */
  async close(): Promise<void> {
    await this.call({ type: 'close' });
    await within(this.exited, EXIT_TIMEOUT_MS, `${this.label} to exit after close`);
  }

  /** Graceful shutdown; the worker exits afterwards. */
  async shutdown(timeoutMs = 5_000): Promise<void> {
    await this.call({ type: 'shutdown', timeoutMs }, timeoutMs + COMMAND_TIMEOUT_MS);
    await within(this.exited, EXIT_TIMEOUT_MS, `${this.label} to exit after shutdown`);
  }

  /**
   * SIGTERM: the worker shuts its broker down gracefully and exits. Resolves
   * once the process is gone, with how it exited ('0' when the shutdown completed).
   */
  async terminate(timeoutMs = 15_000): Promise<string> {
    if (this.alive) this.child.kill('SIGTERM');
    await within(this.exited, timeoutMs, `${this.label} to exit after SIGTERM`);
    return this.exit!;
  }

  /** SIGKILL; resolves with the parent's wall-clock time of the kill once the process is gone. */
  async kill(): Promise<number> {
    const at = Date.now();
    if (this.alive) {
      this.child.kill('SIGKILL');
      await within(this.exited, EXIT_TIMEOUT_MS, `${this.label} to exit after SIGKILL`);
    }
    return at;
  }

  /** Resolves once `check` holds; re-checked on every event from the child. */
  until(check: (worker: this) => boolean, timeoutMs: number, what: string): Promise<void> {
    return waitAcross([this], () => check(this), timeoutMs, `${this.label}: ${what}`);
  }

  /** Registers a listener for any change of this handle's state; returns its remover. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private call<T extends WorkerCommand['type']>(
    command: Extract<WorkerCommand, { type: T }>,
    timeoutMs = COMMAND_TIMEOUT_MS,
  ): Promise<WorkerResults[T]> {
    if (!this.alive || !this.child.connected) {
      return Promise.reject(new Error(`${this.label} is not running; cannot send ${command.type}`));
    }
    const id = ++this.lastId;
    const answered = new Promise<unknown>((resolveCall, rejectCall) => {
      this.pending.set(id, { resolve: resolveCall, reject: rejectCall });
    });
    this.child.send({ id, command });
    return within(answered, timeoutMs, `${this.label}: ${command.type}`).finally(() =>
      this.pending.delete(id),
    ) as Promise<WorkerResults[T]>;
  }

  private onMessage(message: WorkerMessage): void {
    if (message.kind === 'reply') {
      const pending = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.ok) pending?.resolve(message.value);
      else pending?.reject(new WorkerCommandError(`${this.label}`, message.error));
    } else if (message.kind === 'event') {
      this.apply(message.event);
    }
    this.notify();
  }

  private apply(event: WorkerEvent): void {
    switch (event.type) {
      case 'ring':
        this.ringSize = event.size;
        this.ringAt = event.at;
        this.ringEvents++;
        return;
      case 'status':
        this.statuses.push({ status: event.status, at: event.at });
        return;
      case 'progress':
        this.handled = event.handled;
        this.received = event.received;
        this.published = event.published;
        return;
      case 'problem':
        this.problems.push({ code: event.code, message: event.message, at: event.at });
        return;
    }
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

/**
 * Resolves once `check` holds, re-checking whenever any of `workers` reports
 * something. On timeout the error names `what`, evaluated then, so it can
 * describe the state that was reached.
 */
export function waitAcross(
  workers: readonly BrokerProcess[],
  check: () => boolean,
  timeoutMs: number,
  what: string | (() => string),
): Promise<void> {
  if (check()) return Promise.resolve();
  const removers: (() => void)[] = [];
  const met = new Promise<void>((done) => {
    for (const worker of workers) {
      removers.push(
        worker.onChange(() => {
          if (check()) done();
        }),
      );
    }
  });
  return within(met, Math.max(timeoutMs, 0), 'wait')
    .catch(() => {
      throw new Error(`${typeof what === 'string' ? what : what()}: not within ${timeoutMs} ms`);
    })
    .finally(() => removers.forEach((remove) => remove()));
}
