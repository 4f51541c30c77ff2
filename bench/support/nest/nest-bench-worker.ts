/**
 * One process of bench/nest-flow.bench.ts: a Nest NATS consumer or
 * publisher, or a Flow app or publisher (see NestBenchRole). Spawned with an
 * IPC channel; answers WorkerCommands, takes credit notes, reports its event
 * count every PROGRESS_MS while it changes, and exits on `exit` or when the
 * parent goes away.
 */
import 'reflect-metadata';
import {
  PROGRESS_MS,
  type EventReport,
  type ParentMessage,
  type WorkerCommand,
  type WorkerConfig,
  type WorkerMessage,
  type WorkerStats,
} from './bench-ipc';
import { HeapAllocation } from '../heap-allocation';
import { BenchTally } from './bench-tally';
import { startFlowApp, startFlowPublisher } from './flow-roles';
import { Credits, publishEvents, sendRequests } from './load-driver';
import { startNestConsumer, startNestPublisher } from './nest-nats-roles';
import type { RunningRole } from './running-role';

class NestBenchWorker {
  #tally = new BenchTally(0);
  #role: RunningRole | undefined;
  #progress: NodeJS.Timeout | undefined;
  #reported = -1;
  /** Events this process published in earlier plans: the consumers' totals include them. */
  #sent = 0;
  readonly credits = new Credits();
  readonly #allocation = new HeapAllocation();

  constructor(private readonly send: (message: WorkerMessage) => void) {}

  async run(command: WorkerCommand): Promise<unknown> {
    switch (command.type) {
      case 'start':
        return this.#start(command.config);
      case 'publish': {
        const report: EventReport = await publishEvents(this.#target(), command.plan, this.credits, this.#sent);
        this.#sent += report.published;
        return report;
      }
      case 'request': {
        const before = this.#allocation.oldGenerationDirect();
        const report = await sendRequests(this.#target(), command.plan);
        return { ...report, oldDirectBytes: this.#allocation.oldGenerationDirect() - before };
      }
      case 'stats':
        if (command.gc === true) (globalThis as { gc?: () => void }).gc?.();
        return this.#stats();
      case 'seen':
        return this.#tally.seen;
      case 'exit':
        return this.#stop();
    }
  }

  async #start(config: WorkerConfig): Promise<null> {
    this.#tally = new BenchTally(config.maxEvents);
    switch (config.role) {
      case 'nest-consumer':
        this.#role = await startNestConsumer(config, this.#tally);
        break;
      case 'nest-publisher':
        this.#role = await startNestPublisher(config, this.#tally);
        break;
      case 'flow-app':
        this.#role = await startFlowApp(config, this.#tally);
        break;
      case 'flow-publisher':
        this.#role = await startFlowPublisher(config, this.#tally);
        break;
    }
    this.#progress = setInterval(() => this.#reportProgress(), PROGRESS_MS);
    return null;
  }

  #target() {
    const target = this.#role?.target;
    if (target === undefined) throw new Error('this worker is not a publisher');
    return target;
  }

  #stats(): WorkerStats {
    const memory = process.memoryUsage();
    const cpu = process.cpuUsage();
    const broker = this.#role?.broker;
    return {
      events: this.#tally.events,
      distinct: this.#tally.distinct,
      requests: this.#tally.requests,
      lastEventAt: this.#tally.lastEventAt,
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      heapTotalBytes: memory.heapTotal,
      externalBytes: memory.external,
      cpuUs: cpu.user + cpu.system,
      allocatedBytes: this.#allocation.read(),
      oldDirectBytes: this.#allocation.oldGenerationDirect(),
      ...(broker === undefined
        ? {}
        : { members: broker.snapshot().members.length, counters: { ...broker.counters } as Record<string, number> }),
      errors: { ...this.#tally.errors },
    };
  }

  async #stop(): Promise<null> {
    if (this.#progress !== undefined) clearInterval(this.#progress);
    await this.#role?.close();
    return null;
  }

  #reportProgress(): void {
    if (this.#tally.events === this.#reported) return;
    this.#reported = this.#tally.events;
    this.send({ kind: 'progress', events: this.#tally.events });
  }
}

function main(): void {
  if (process.send === undefined) {
    process.stderr.write('nest-bench-worker must be spawned with an IPC channel\n');
    process.exit(2);
  }
  const send = (message: WorkerMessage, done?: () => void): void => {
    if (process.connected) process.send!(message, undefined, {}, done);
  };
  const worker = new NestBenchWorker(send);
  process.on('disconnect', () => process.exit(1));
  process.on('message', (message: ParentMessage) => {
    if (message.kind === 'credit') {
      worker.credits.update(message.handled);
      return;
    }
    const { id, command } = message;
    worker.run(command).then(
      (value) => send({ kind: 'reply', id, ok: true, value }, command.type === 'exit' ? () => process.exit(0) : undefined),
      (error: unknown) =>
        send({ kind: 'reply', id, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
    );
  });
  send({ kind: 'hello' });
}

main();
