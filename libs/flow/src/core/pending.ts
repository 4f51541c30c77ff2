import type { U64 } from './bytes';
import { Clock } from './clock';
import { FlowError, OverloadedError } from './errors';

/**
 * Receives the outcome of one pending exchange exactly once: a value, or an
 * error (timeout, close, abort, remote failure).
 */
export type Settle<T> = (error: FlowError | undefined, value: T | undefined) => void;

interface Entry<T, G> {
  readonly settle: Settle<T>;
  /** What the caller registered it with (add), for failWhere. */
  readonly tag: G | undefined;
  readonly onTimeout: () => FlowError;
  /** Clock time at which the entry expires. */
  readonly deadline: number;
  /** A timer of its own, for an entry whose timeout differs from the table's. */
  readonly timer: unknown;
}

/**
 * Exchanges awaiting an answer, by id: forwards awaiting their ACK, pings
 * awaiting INFO, requests awaiting their reply.
 *
 * Bounded: `add` throws an OverloadedError once `limit` entries are pending,
 * before anything is registered.
 *
 * Timers: a forward is on the hot path and most settle within a millisecond,
 * so entries with the table's usual timeout share one timer. They expire in
 * insertion order (a Map iterates in that order and their deadlines grow
 * with it), so the timer only ever looks at the oldest entries. An entry
 * with any other timeout gets a timer of its own.
 */
export class PendingTable<T, G = never> {
  private readonly entries = new Map<U64, Entry<T, G>>();
  private sharedTimer: unknown;
  private emptyWaiters: (() => void)[] = [];

  constructor(
    private readonly clock: Clock,
    /** Name of the bound in errors, e.g. `maxInFlightForwards`. */
    private readonly limitName: string,
    private readonly limit: number,
    /** The usual timeout, ms; entries with it share one timer. */
    private readonly usualTimeout: number,
    /** Whether a pending entry keeps the process alive (someone awaits it), see Clock. */
    private readonly holdsProcess = false,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /**
   * Registers `id`. After `timeoutMs` without an answer, `settle` receives
   * `onTimeout()`'s error. The id must not be pending already.
   */
  add(id: U64, timeoutMs: number, onTimeout: () => FlowError, settle: Settle<T>, tag?: G): void {
    if (this.entries.size >= this.limit) throw new OverloadedError(this.limitName, this.limit);
    const shared = timeoutMs === this.usualTimeout;
    const timer = shared ? undefined : this.clock.setTimeout(() => this.expire(id), timeoutMs, this.holdsProcess);
    this.entries.set(id, { settle, tag, onTimeout, deadline: this.clock.now() + timeoutMs, timer });
    if (shared && this.sharedTimer === undefined) this.armSharedTimer(timeoutMs);
  }

  has(id: U64): boolean {
    return this.entries.has(id);
  }

  /** The tag `id` was added with; undefined when it is not pending or has none. */
  tagOf(id: U64): G | undefined {
    return this.entries.get(id)?.tag;
  }

  /** Settles `id` with a value. False when it was not pending (late or foreign answer). */
  resolve(id: U64, value: T): boolean {
    const entry = this.take(id);
    if (entry === undefined) return false;
    entry.settle(undefined, value);
    return true;
  }

  /** Settles `id` with an error. False when it was not pending. */
  fail(id: U64, error: FlowError): boolean {
    const entry = this.take(id);
    if (entry === undefined) return false;
    entry.settle(error, undefined);
    return true;
  }

  /** Settles with `error`, lowest id first, every entry whose tag passes `test`. */
  failWhere(test: (tag: G) => boolean, error: FlowError): void {
    const ids: U64[] = [];
    for (const [id, entry] of this.entries) if (entry.tag !== undefined && test(entry.tag)) ids.push(id);
    ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const id of ids) this.fail(id, error);
  }

  /** Resolves once nothing is pending. */
  drained(): Promise<void> {
    if (this.entries.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.emptyWaiters.push(resolve));
  }

  /** Settles every pending entry with `error` (on close). */
  failAll(error: FlowError): void {
    for (const id of [...this.entries.keys()]) this.fail(id, error);
    if (this.sharedTimer !== undefined) this.clock.clearTimeout(this.sharedTimer);
    this.sharedTimer = undefined;
  }

  private expire(id: U64): void {
    const entry = this.entries.get(id);
    if (entry !== undefined) this.fail(id, entry.onTimeout());
  }

  private armSharedTimer(delay: number): void {
    this.sharedTimer = this.clock.setTimeout(() => this.onSharedTimer(), Math.max(0, delay), this.holdsProcess);
  }

  /** Expires the oldest shared-timer entries that are due, then waits for the next one. */
  private onSharedTimer(): void {
    this.sharedTimer = undefined;
    const now = this.clock.now();
    for (const [id, entry] of this.entries) {
      if (entry.timer !== undefined) continue;
      if (entry.deadline > now) {
        if (this.sharedTimer === undefined) this.armSharedTimer(entry.deadline - now);
        return;
      }
      this.fail(id, entry.onTimeout());
    }
  }

  private take(id: U64): Entry<T, G> | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined) return undefined;
    this.entries.delete(id);
    if (entry.timer !== undefined) this.clock.clearTimeout(entry.timer);
    if (this.entries.size === 0) this.onEmpty();
    return entry;
  }

  private onEmpty(): void {
    if (this.sharedTimer !== undefined) {
      this.clock.clearTimeout(this.sharedTimer);
      this.sharedTimer = undefined;
    }
    if (this.emptyWaiters.length === 0) return;
    const waiters = this.emptyWaiters;
    this.emptyWaiters = [];
    // Resolve after the settle callback ran, so a waiter sees its consequences (a retry re-adds one).
    queueMicrotask(() => waiters.forEach((resolve) => resolve()));
  }
}
