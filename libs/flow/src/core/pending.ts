import { Clock } from './clock';
import { FlowError, OverloadedError } from './errors';

/**
 * Receives the outcome of one pending exchange exactly once: a value, or an
 * error (timeout, close, abort, remote failure).
 */
export type Settle<T> = (error: FlowError | undefined, value: T | undefined) => void;

interface Entry<T> {
  readonly settle: Settle<T>;
  readonly timer: unknown;
}

/**
 * Exchanges awaiting an answer, by id: forwards awaiting their ACK, pings
 * awaiting INFO, requests awaiting their reply. Bounded: `add` throws an
 * OverloadedError once `limit` entries are pending, before any timer starts.
 * Callback-based rather than promise-based because a forward is on the hot
 * path and most of them settle within a millisecond.
 */
export class PendingTable<T> {
  private readonly entries = new Map<number, Entry<T>>();
  private emptyWaiters: (() => void)[] = [];

  constructor(
    private readonly clock: Clock,
    /** Name of the bound in errors, e.g. `maxInFlightForwards`. */
    private readonly limitName: string,
    private readonly limit: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /**
   * Registers `id`. After `timeoutMs` without an answer, `settle` receives
   * `onTimeout()`'s error. The id must not be pending already.
   */
  add(id: number, timeoutMs: number, onTimeout: () => FlowError, settle: Settle<T>): void {
    if (this.entries.size >= this.limit) throw new OverloadedError(this.limitName, this.limit);
    const timer = this.clock.setTimeout(() => this.fail(id, onTimeout()), timeoutMs);
    this.entries.set(id, { settle, timer });
  }

  has(id: number): boolean {
    return this.entries.has(id);
  }

  /** Settles `id` with a value. False when it was not pending (late or foreign answer). */
  resolve(id: number, value: T): boolean {
    const entry = this.take(id);
    if (entry === undefined) return false;
    entry.settle(undefined, value);
    return true;
  }

  /** Settles `id` with an error. False when it was not pending. */
  fail(id: number, error: FlowError): boolean {
    const entry = this.take(id);
    if (entry === undefined) return false;
    entry.settle(error, undefined);
    return true;
  }

  /** Resolves once nothing is pending. */
  drained(): Promise<void> {
    if (this.entries.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.emptyWaiters.push(resolve));
  }

  /** Settles every pending entry with `error` (on close). */
  failAll(error: FlowError): void {
    for (const id of [...this.entries.keys()]) this.fail(id, error);
  }

  private take(id: number): Entry<T> | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined) return undefined;
    this.entries.delete(id);
    this.clock.clearTimeout(entry.timer);
    if (this.entries.size === 0 && this.emptyWaiters.length > 0) {
      const waiters = this.emptyWaiters;
      this.emptyWaiters = [];
      // Settle first, so a waiter sees the entry's consequences (a retry re-adds one).
      queueMicrotask(() => waiters.forEach((resolve) => resolve()));
    }
    return entry;
  }
}
