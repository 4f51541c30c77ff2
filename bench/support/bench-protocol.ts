/**
 * IPC between bench/nats-core.bench.ts and its worker processes
 * (bench-worker.ts). One worker plays one role for one run.
 */

export type BenchRole =
  /** nats.js queue subscriber that counts. */
  | 'raw-subscriber'
  /** nats.js publisher. */
  | 'raw-publisher'
  /** Flow broker with a handler that counts. */
  | 'flow-broker'
  /** Flow broker without handlers that publishes keyed messages. */
  | 'flow-publisher';

export interface BenchWorkerConfig {
  role: BenchRole;
  servers: string;
  subject: string;
  /** Queue group of raw subscribers (Flow brokers use their clique). */
  queue: string;
  /** Flow node name; the node key derives from it. */
  nodeName: string;
  /** Sequence numbers run from 0 to messages - 1; subscribers size their bitmap by it. */
  messages: number;
}

export interface PublishPlan {
  payloadBytes: number;
  /** Messages between awaited flushes. */
  batch: number;
  /** Distinct partition keys (Flow only). */
  keys: number;
  /** The publisher stops early after this long. */
  maxMs: number;
  /**
   * Flow only: `await broker.publish()` for every message instead of awaiting
   * the batch's promises together. Each await yields to the microtask queue,
   * where nats.js flushes its outbound buffer: one socket write per message.
   */
  awaitEach: boolean;
  /** Flow only: publish with acknowledgement (the default) or fire and forget (`ack: false`). */
  ack: boolean;
  /**
   * When set, at most this many messages are published and not yet received
   * (or handled): the parent relays the receivers' progress as `credit`, and
   * the publisher waits for it at batch boundaries. A consumer-paced
   * producer; without it only the flushes hold the publisher back.
   */
  window: number | undefined;
  /** Sequence numbers published: from `from` (default 0) up to before `to` (default the config's messages). */
  from?: number;
  to?: number;
}

export interface PublishReport {
  published: number;
  failed: number;
  /** Wall-clock ms (performance.timeOrigin + performance.now()). */
  firstAt: number;
  lastAt: number;
}

export interface WorkerStats {
  /** Messages received (raw) or handler runs (Flow). */
  count: number;
  /** Distinct sequence numbers among them (this worker's). */
  distinct: number;
  /** Wall-clock ms of the last receipt or handler run; 0 before any. */
  lastAt: number;
  /** Wall-clock ms of the last receipt or handler run of a sequence number not seen before. */
  lastNewAt: number;
  rssBytes: number;
  heapUsedBytes: number;
  /** V8 heap reserved (used and free), of which newSpaceBytes is the young generation's. */
  heapTotalBytes: number;
  newSpaceBytes: number;
  /** Memory outside the V8 heap held by JS objects: ArrayBuffer backing stores and the like. */
  externalBytes: number;
  /** Resident bytes of glibc malloc's heaps, in use and freed but kept (malloc-heap.ts); NaN unless a memory sample was asked for. */
  mallocHeapBytes: number;
  /** CPU time (user + system) of the process so far, µs. */
  cpuUs: number;
  /** Of which in the kernel (system time), µs. */
  cpuSystemUs: number;
  /** Of which the main thread's (Linux; NaN elsewhere), µs: the rest is V8's collector helpers and compiler, libuv's pool. */
  cpuMainThreadUs: number;
  /** Garbage-collection pauses of the main thread so far, ms (perf_hooks 'gc' entries). */
  gcPauseMs: number;
  /**
   * Bytes allocated on the JS heap so far, about: the heap in use now plus
   * what every garbage collection since the start freed (v8's GCProfiler).
   */
  allocatedBytes: number;
  /** Ring members the broker knows (Flow roles only). */
  members?: number;
  /** Broker counters (Flow roles only). */
  counters?: Record<string, number>;
  /** Asynchronous errors by code or name (slow consumer, timeouts, ...). */
  errors: Record<string, number>;
}

export type BenchCommand =
  | { type: 'start'; config: BenchWorkerConfig }
  | { type: 'publish'; plan: PublishPlan }
  /**
   * `memory`: a memory sample (bench/rss.bench.ts): after two full collections
   * when the worker has --expose-gc, with the malloc heaps read from
   * /proc/self/smaps. Without it, nothing is collected or read.
   */
  | { type: 'stats'; memory?: boolean }
  /**
   * Starts a CPU profile of this process (node:inspector), for the run window only; `allocations`:
   * V8's sampling heap profile instead, counting objects that were collected since as well.
   */
  | { type: 'profile-start'; allocations?: boolean }
  /** Stops it and writes the .cpuprofile (or .heapprofile) to `path`. */
  | { type: 'profile-stop'; path: string }
  | { type: 'exit' };

/** Parent -> publisher, unanswered: the receivers have received (or handled) `credit` distinct messages so far. */
export interface CreditMessage {
  credit: number;
}

export type BenchMessage =
  | { kind: 'hello' }
  | { kind: 'reply'; id: number; ok: true; value: unknown }
  | { kind: 'reply'; id: number; ok: false; error: string }
  /** Sent every PROGRESS_MS while it changes: distinct sequence numbers received or handled. */
  | { kind: 'progress'; distinct: number };

export const PROGRESS_MS = 10;

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
export function wallClock(): number {
  return performance.timeOrigin + performance.now();
}
