import type { U64 } from './bytes';
import { Clock } from './clock';
import { FlowError, OverloadedError } from './errors';
import { Fifo } from './fifo';
import { IdTable } from './id-table';

/**
 * Receives the outcome of one pending exchange exactly once: a value, or an
 * error (timeout, close, abort, remote failure).
 */
export type Settle<T> = (error: FlowError | undefined, value: T | undefined) => void;

interface Entry<T, G> {
  readonly id: U64;
  readonly settle: Settle<T>;
  /** What the caller registered it with (add), for failWhere. */
  readonly tag: G | undefined;
  readonly onTimeout: () => FlowError;
  /** Clock time at which the entry expires. */
  readonly deadline: number;
  /** A timer of its own, for an entry whose timeout differs from the table's. */
  readonly timer: unknown;
  /** Its place in the order of adds (failAll settles in that order). */
  readonly seq: number;
  /** Settled: the shared timer's queue drops it when it reaches it. */
  done: boolean;
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
 * the order they were added (their deadlines grow with it), so the timer only
 * ever looks at the oldest of them, kept in a queue. An entry with any other
 * timeout gets a timer of its own.
 *
 * The entries are in an IdTable, not a Map: each forward and request adds
 * one and deletes it, and V8 rebuilt the Map's table in the old generation
 * every few dozen of them (about 250 bytes of garbage per request on a
 * requester, docs/BENCHMARKS.md).
 */
export class PendingTable<T, G = never> {
  private readonly entries = new IdTable<Entry<T, G>>();
  /**
   * Entries on the shared timer in the order added. A settled one leaves it
   * once no unsettled one is ahead of it, so the first is never settled.
   */
  private readonly due = new Fifo<Entry<T, G>>();
  private added = 0;
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
    const entry: Entry<T, G> = { id, settle, tag, onTimeout, deadline: this.clock.now() + timeoutMs, timer, seq: this.added++, done: false };
    this.entries.set(id, entry);
    if (!shared) return;
    this.due.push(entry);
    if (this.sharedTimer === undefined) this.armSharedTimer(timeoutMs);
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
    this.entries.forEach((entry, id) => {
      if (entry.tag !== undefined && test(entry.tag)) ids.push(id);
    });
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
    const all: Entry<T, G>[] = [];
    this.entries.forEach((entry) => all.push(entry));
    all.sort((a, b) => a.seq - b.seq);
    for (const entry of all) this.fail(entry.id, error);
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
    // The first is never settled, and failing it takes it off the queue (take).
    for (let entry = this.due.peek(); entry !== undefined; entry = this.due.peek()) {
      if (this.entries.get(entry.id) !== entry) {
        // Replaced by an add of its id while pending, against add's contract: it can only leave here.
        this.due.shift();
        continue;
      }
      if (entry.deadline > now) {
        if (this.sharedTimer === undefined) this.armSharedTimer(entry.deadline - now);
        return;
      }
      this.fail(entry.id, entry.onTimeout());
    }
  }

  private take(id: U64): Entry<T, G> | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined) return undefined;
    this.entries.delete(id);
    entry.done = true;
    if (entry.timer !== undefined) this.clock.clearTimeout(entry.timer);
    // Most settle in the order they were added, so the queue holds few settled ones.
    for (let front = this.due.peek(); front !== undefined && front.done; front = this.due.peek()) this.due.shift();
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
