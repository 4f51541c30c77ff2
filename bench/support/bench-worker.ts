/**
 * One process of bench/nats-core.bench.ts: a raw nats.js subscriber or
 * publisher, or a Flow broker (handler or publisher-only). The per-message
 * work is the least each role needs: count, note the time, mark the
 * sequence number (the payload's first 4 bytes) in a bitmap.
 *
 * Spawned with an IPC channel; answers BenchCommands (bench-protocol.ts)
 * and exits on `exit` or when the parent goes away.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { connect, type NatsConnection } from 'nats';
import { Broker } from 'nestjs-flow/core';
import { connectNats, type NatsPubSub } from 'nestjs-flow/nats';
import {
  PROGRESS_MS,
  wallClock,
  type BenchCommand,
  type BenchMessage,
  type BenchWorkerConfig,
  type CreditMessage,
  type PublishPlan,
  type PublishReport,
  type WorkerStats,
} from './bench-protocol';
import { HeapAllocation } from './heap-allocation';
import { mallocHeapBytes } from './malloc-heap';
import { mainThreadCpuSeconds } from './proc-cpu';

class BenchWorker {
  private config: BenchWorkerConfig | undefined;
  private raw: NatsConnection | undefined;
  private pubsub: NatsPubSub | undefined;
  private broker: Broker | undefined;
  private seen = new Uint8Array(0);
  private count = 0;
  private distinct = 0;
  private lastAt = 0;
  /** When a sequence number was seen for the first time, last. */
  private lastNewAt = 0;
  private readonly errors: Record<string, number> = {};
  private progress: NodeJS.Timeout | undefined;
  private reported = -1;
  private gcPauseMs = 0;
  private readonly gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) this.gcPauseMs += entry.duration;
  });
  private readonly allocation = new HeapAllocation();
  /** What the receivers have taken so far, as the parent last said (paced publishing). */
  private credit = 0;
  private creditWaiter: (() => void) | undefined;

  constructor(private readonly send: (message: BenchMessage) => void) {
    this.gcObserver.observe({ entryTypes: ['gc'] });
  }

  async run(command: BenchCommand): Promise<unknown> {
    switch (command.type) {
      case 'start':
        return this.start(command.config);
      case 'publish':
        return this.publish(command.plan);
      case 'stats':
        return this.stats(command.memory === true);
      case 'profile-start':
        return this.profileStart(command.allocations === true);
      case 'profile-stop':
        return this.profileStop(command.path);
      case 'exit':
        return this.stop();
    }
  }

  private async start(config: BenchWorkerConfig): Promise<null> {
    this.config = config;
    this.seen = new Uint8Array(config.messages);
    const onError = (error: unknown): void => this.countError(error);
    switch (config.role) {
      case 'raw-subscriber':
      case 'raw-publisher': {
        this.raw = await connect({ servers: config.servers, name: config.nodeName });
        void this.watchRawStatus(this.raw);
        if (config.role === 'raw-subscriber') {
          this.raw.subscribe(config.subject, {
            queue: config.queue,
            callback: (error, msg) => (error === null ? this.onMessage(msg.data) : onError(error)),
          });
        }
        await this.raw.flush();
        break;
      }
      case 'flow-broker':
      case 'flow-publisher': {
        this.pubsub = await connectNats({ servers: config.servers, name: config.nodeName, onError });
        this.broker = new Broker(this.pubsub, { nodeName: config.nodeName, onError });
        if (config.role === 'flow-broker') {
          await this.broker.handle(config.subject, (delivery) => this.onMessage(delivery.data));
        }
        await this.broker.start();
        break;
      }
    }
    this.progress = setInterval(() => this.reportProgress(), PROGRESS_MS);
    return null;
  }

  onCredit(credit: number): void {
    this.credit = credit;
    this.creditWaiter?.();
  }

  /** Resolves once fewer than `window` published messages are outstanding, or at `deadline`. */
  private async awaitCredit(published: number, window: number, deadline: number): Promise<void> {
    while (published - this.credit > window && performance.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1_000);
        this.creditWaiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.creditWaiter = undefined;
    }
  }

  private onMessage(data: Uint8Array): void {
    this.count++;
    this.lastAt = wallClock();
    const seq = ((data[0]! << 24) | (data[1]! << 16) | (data[2]! << 8) | data[3]!) >>> 0;
    if (seq >= this.seen.length) return;
    if (this.seen[seq] === 0) {
      this.distinct++;
      this.lastNewAt = this.lastAt;
    }
    if (this.seen[seq]! < 255) this.seen[seq]!++;
  }

  private async publish(plan: PublishPlan): Promise<PublishReport> {
    const config = this.config!;
    const keys = Array.from({ length: plan.keys }, (_, i) => `customer-${i}`);
    const report: PublishReport = { published: 0, failed: 0, firstAt: wallClock(), lastAt: 0 };
    const deadline = performance.now() + plan.maxMs;
    const batch: Promise<void>[] = [];
    const settleBatch = async (): Promise<void> => {
      const outcomes = await Promise.allSettled(batch.splice(0));
      for (const outcome of outcomes) {
        if (outcome.status === 'fulfilled') report.published++;
        else report.failed++;
      }
    };
    for (let seq = plan.from ?? 0; seq < (plan.to ?? config.messages); seq++) {
      // A fresh payload per message, as a real publisher encodes one; the first 4 bytes carry seq.
      const payload = new Uint8Array(plan.payloadBytes);
      payload[0] = seq >>> 24;
      payload[1] = (seq >>> 16) & 0xff;
      payload[2] = (seq >>> 8) & 0xff;
      payload[3] = seq & 0xff;
      if (this.broker !== undefined) {
        const published = this.broker.publish(config.subject, payload, { key: keys[seq % plan.keys], ack: plan.ack });
        batch.push(published);
        if (plan.awaitEach) await settleBatch();
      } else {
        try {
          this.raw!.publish(config.subject, payload);
          report.published++;
        } catch {
          report.failed++;
        }
      }
      if ((seq + 1) % plan.batch === 0) {
        await settleBatch();
        // Yield to the server so that it and the subscribers are not overrun.
        if (this.broker !== undefined) await this.pubsub!.flush();
        else await this.raw!.flush();
        if (plan.window !== undefined) await this.awaitCredit(seq + 1, plan.window, deadline);
        if (performance.now() > deadline) break;
      }
    }
    await settleBatch();
    if (this.broker !== undefined) await this.pubsub!.flush();
    else await this.raw!.flush();
    report.lastAt = wallClock();
    return report;
  }

  private profiler: Session | undefined;
  private profilesAllocations = false;

  private async profileStart(allocations: boolean): Promise<null> {
    this.profiler = new Session();
    this.profiler.connect();
    this.profilesAllocations = allocations;
    if (allocations) {
      await this.inspect('HeapProfiler.enable');
      // Every object sampled counts, the ones a collection has freed since too: what was allocated, not what is left.
      await this.inspect('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    } else {
      await this.inspect('Profiler.enable');
      // FLOW_BENCH_PROFILE_US: the sampling interval in µs (nats-core.bench.ts).
      await this.inspect('Profiler.setSamplingInterval', { interval: Number(process.env.FLOW_BENCH_PROFILE_US ?? 1000) });
      await this.inspect('Profiler.start');
    }
    return null;
  }

  private async profileStop(path: string): Promise<null> {
    const { profile } = (await this.inspect(this.profilesAllocations ? 'HeapProfiler.stopSampling' : 'Profiler.stop')) as { profile: unknown };
    writeFileSync(path, JSON.stringify(profile));
    this.profiler?.disconnect();
    this.profiler = undefined;
    return null;
  }

  private inspect(method: string, params?: object): Promise<unknown> {
    return new Promise((resolve, reject) =>
      this.profiler!.post(method, params ?? {}, (error, result) => (error === null ? resolve(result) : reject(error))),
    );
  }

  /** `sample`: a memory sample (the 'stats' command's `memory`); polls for progress or ring size leave it out. */
  private stats(sample: boolean): WorkerStats & { seen: Uint8Array } {
    if (sample) {
      // Spawned with --expose-gc (bench/rss.bench.ts): memory after a full collection.
      // Twice: V8 frees the ArrayBuffers a collection finds dead at once (memoryUsage's
      // arrayBuffers drops), but subtracts their bytes from `external` only when the next
      // collection finalises its array-buffer sweep, so after one gc() `external` still
      // counts every buffer allocated since the previous collection (churn, not retention).
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      gc?.();
    }
    const memory = process.memoryUsage();
    const cpu = process.cpuUsage();
    return {
      cpuUs: cpu.user + cpu.system,
      cpuSystemUs: cpu.system,
      cpuMainThreadUs: mainThreadCpuSeconds() * 1e6,
      gcPauseMs: this.gcPauseMs,
      allocatedBytes: this.allocation.read(),
      count: this.count,
      distinct: this.distinct,
      lastAt: this.lastAt,
      lastNewAt: this.lastNewAt,
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      heapTotalBytes: memory.heapTotal,
      externalBytes: memory.external,
      newSpaceBytes: getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0,
      mallocHeapBytes: sample ? mallocHeapBytes() : Number.NaN,
      ...(this.broker === undefined
        ? {}
        : { members: this.broker.snapshot().members.length, counters: { ...this.broker.counters } }),
      errors: { ...this.errors },
      seen: this.seen,
    };
  }

  private async stop(): Promise<null> {
    if (this.progress !== undefined) clearInterval(this.progress);
    this.gcObserver.disconnect();
    await this.broker?.close();
    await this.pubsub?.close();
    await this.raw?.close();
    return null;
  }

  private reportProgress(): void {
    if (this.distinct === this.reported) return;
    this.reported = this.distinct;
    this.send({ kind: 'progress', distinct: this.distinct });
  }

  private async watchRawStatus(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'error' || status.type === 'disconnect') {
        this.countError({ code: `nats:${status.type}:${String(status.data)}` });
      }
    }
  }

  private countError(error: unknown): void {
    const { code, name } = (error ?? {}) as { code?: unknown; name?: unknown };
    const key = typeof code === 'string' ? code : typeof name === 'string' ? name : 'unknown';
    this.errors[key] = (this.errors[key] ?? 0) + 1;
  }
}

function main(): void {
  if (process.send === undefined) {
    process.stderr.write('bench-worker must be spawned with an IPC channel\n');
    process.exit(2);
  }
  const send = (message: BenchMessage, done?: () => void): void => {
    if (process.connected) process.send!(message, undefined, {}, done);
  };
  const worker = new BenchWorker(send);
  process.on('disconnect', () => process.exit(1));
  process.on('message', (message: { id: number; command: BenchCommand } | CreditMessage) => {
    if ('credit' in message) {
      worker.onCredit(message.credit);
      return;
    }
    const { id, command } = message;
    worker.run(command).then(
      (value) => send({ kind: 'reply', id, ok: true, value }, command.type === 'exit' ? () => process.exit(0) : undefined),
      (error: unknown) => {
        const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
        send({ kind: 'reply', id, ok: false, error: text });
      },
    );
  });
  send({ kind: 'hello' });
}

main();
