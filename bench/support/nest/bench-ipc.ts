/**
 * IPC between bench/nest-flow.bench.ts and its worker processes
 * (nest-bench-worker.ts). A worker plays one role for its whole life.
 */

export type NestBenchRole =
  /** Nest microservice on the built-in NATS transport (queue group), @EventPattern + @MessagePattern. */
  | 'nest-consumer'
  /** Nest app context with a NATS ClientProxy (ClientsModule): emit and send. */
  | 'nest-publisher'
  /** Nest microservice with FlowModule and FlowServer, @StreamHandler + @RequestHandler. */
  | 'flow-app'
  /** Nest app context with FlowModule and no handlers (off the ring): FlowClient publish and request. */
  | 'flow-publisher';

export const EVENT_STREAM = 'bench.events';
export const REQUEST_STREAM = 'bench.requests';

export interface WorkerConfig {
  readonly role: NestBenchRole;
  readonly servers: string;
  /** Flow node name (its node key derives from it) and NATS client name. */
  readonly name: string;
  /** Sequence numbers of events run from 0 to this - 1: consumers size their bitmap by it. */
  readonly maxEvents: number;
}

/** What the handlers receive and the requests carry: JSON of exactly `payloadBytes` bytes. */
export interface BenchPayload {
  readonly seq: number;
  readonly body: string;
}

export interface EventPlan {
  /** Sequence numbers from `first` to `first + count - 1`. */
  readonly first: number;
  readonly count: number;
  readonly payloadBytes: number;
  /** Messages between awaited flushes. */
  readonly batch: number;
  /**
   * The publisher keeps at most this many messages published but not yet
   * handled (it learns the handled count through `credit` notes).
   */
  readonly window: number;
  /** Distinct partition keys (Flow); Nest's events are unkeyed. */
  readonly keys: number;
}

export interface RequestPlan {
  readonly count: number;
  readonly concurrency: number;
  readonly payloadBytes: number;
  /** Distinct partition keys (Flow); Nest's requests are unkeyed. */
  readonly keys: number;
}

export interface EventReport {
  readonly published: number;
  readonly failed: number;
  /** Wall clock, ms (performance.timeOrigin + performance.now()). */
  readonly firstAt: number;
  readonly lastAt: number;
  /** Errors by code or name. */
  readonly errors: Record<string, number>;
}

export interface RequestReport {
  readonly completed: number;
  readonly failed: number;
  readonly elapsedMs: number;
  /** Latencies, µs, sorted ascending. */
  readonly p50Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
  readonly errors: Record<string, number>;
  /** What the requester's old generation gained between collections meanwhile (HeapAllocation.oldGenerationDirect), bytes. */
  readonly oldDirectBytes: number;
}

export interface WorkerStats {
  /** Events handled (every run of the event handler). */
  readonly events: number;
  /** Distinct sequence numbers among them. */
  readonly distinct: number;
  readonly requests: number;
  /** Wall clock of the last event handled, ms; 0 before any. */
  readonly lastEventAt: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly heapTotalBytes: number;
  /** Memory of Buffers and ArrayBuffers outside the JS heap. */
  readonly externalBytes: number;
  /** CPU time (user + system) of the process so far, µs. */
  readonly cpuUs: number;
  /** Bytes allocated on the JS heap so far, about (bench/support/heap-allocation.ts). */
  readonly allocatedBytes: number;
  /** Bytes the old generation gained between collections so far (HeapAllocation.oldGenerationDirect). */
  readonly oldDirectBytes: number;
  /** Ring positions the app's broker knows (Flow apps only). */
  readonly members?: number;
  readonly counters?: Record<string, number>;
  /** Asynchronous errors by code or name (slow consumer, timeouts, dropped, ...). */
  readonly errors: Record<string, number>;
}

export type WorkerCommand =
  | { readonly type: 'start'; readonly config: WorkerConfig }
  | { readonly type: 'publish'; readonly plan: EventPlan }
  | { readonly type: 'request'; readonly plan: RequestPlan }
  /** `gc`: run a full garbage collection first (the worker needs --expose-gc). */
  | { readonly type: 'stats'; readonly gc?: boolean }
  /** Returns the distinct sequence numbers seen, as a bitmap of maxEvents bytes. */
  | { readonly type: 'seen' }
  | { readonly type: 'exit' };

/** Parent to worker: a command to answer, or a one-way note. */
export type ParentMessage =
  | { readonly kind: 'call'; readonly id: number; readonly command: WorkerCommand }
  /** The consumers' handled total, for a publisher's window. */
  | { readonly kind: 'credit'; readonly handled: number };

/** Worker to parent. */
export type WorkerMessage =
  | { readonly kind: 'hello' }
  | { readonly kind: 'reply'; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly kind: 'reply'; readonly id: number; readonly ok: false; readonly error: string }
  /** Sent every PROGRESS_MS while the count of handled events changes. */
  | { readonly kind: 'progress'; readonly events: number };

export const PROGRESS_MS = 20;

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
export function wallClock(): number {
  return performance.timeOrigin + performance.now();
}
