import { intersect, Interval, KeyRange, keyOf, ownedIntervals, subtract, toRanges } from './key-ranges';
import type { Key } from './key';
import { KeyIndex } from './key-index';
import type { RoutingTable } from './routing-table';

export type { KeyRange };

/** Ranges this broker gained or lost in one ring change, and its ownership epoch after it. */
export interface OwnershipChange {
  readonly ranges: readonly KeyRange[];
  readonly epoch: number;
}

/**
 * Ownership events, once per ring change batch (never per message). A
 * `released` listener may return a promise: on graceful shutdown the broker
 * waits for it (within the shutdown timeout) before it closes.
 */
export interface OwnershipEvents {
  acquired: (change: OwnershipChange) => void;
  released: (change: OwnershipChange) => void;
}

/** What a handler can ask about the ownership of its key; one per broker, shared by its deliveries. */
export interface OwnershipView {
  /** True while `partition`'s owner in the broker's current view is one of its positions and it is on the ring. */
  isOwner(partition: Key): boolean;
}

export interface OwnershipHost {
  /** The joined broker's routing table; undefined before it joins. */
  table(): RoutingTable | undefined;
  /** True while the broker takes new work (started, not draining or closed). */
  isServing(): boolean;
  /** The handoff (handoff.ts): told what was acquired from whom; a joiner's ownership waits while it learns the ring. */
  readonly handoff?: () => {
    readonly isLearning: boolean;
    acquired(intervals: readonly Interval[], before: readonly Key[], members: readonly Key[], isLocal: (key: Key) => boolean): void;
    ownedChanged(owned: readonly Interval[]): void;
  };
  /** The broker's emitter; `emitAndWait` waits for promises the listeners returned. */
  readonly events: {
    emit(event: keyof OwnershipEvents, change: OwnershipChange): void;
    emitAndWait(event: keyof OwnershipEvents, change: OwnershipChange): Promise<void>;
  };
}

interface Segment {
  readonly lo: Key;
  readonly hi: Key;
  readonly interval: Interval;
  readonly epoch: number;
}

/**
 * The key ranges a broker owns, the arcs (predecessor, position] of its
 * positions, and its ownership epoch: a counter that increases on every
 * change of them. Each owned range remembers the epoch it was acquired at.
 *
 * The epoch is a local fencing token: monotonic per broker, not comparable
 * across brokers. Fencing across brokers needs a store's compare-and-set (for
 * example a NATS KV revision).
 *
 * Ring changes only mark the ranges stale; they are recomputed once per
 * batch (in a microtask, or at the next epoch lookup, whichever comes first).
 */
export class Ownership implements OwnershipView {
  #epoch = 0;
  #owned: Interval[] = [];
  /** Owned hashes by acquisition epoch, ascending by `hi`, non-wrapping. */
  #segments: Segment[] = [];
  /** Each segment's `hi`, laid out for the binary search (every dispatch looks its partition up). */
  #ends = new KeyIndex([]);
  #dirty = false;
  #released = false;
  /** The ring at the last settle (empty before the first). */
  #members: readonly Key[] = [];

  constructor(private readonly host: OwnershipHost) {}

  get epoch(): number {
    return this.#epoch;
  }

  /** The ranges owned now. */
  ranges(): KeyRange[] {
    this.settle();
    return toRanges(this.#owned);
  }

  /** The hash intervals owned and served now: none once released or while not serving (draining). */
  servedIntervals(): Interval[] {
    this.settle();
    return this.host.isServing() && !this.#released ? this.#owned : [];
  }

  /** The ring changed: recompute once this batch of changes is over. */
  changed(): void {
    if (this.#dirty || this.#released) return;
    this.#dirty = true;
    queueMicrotask(() => this.settle());
  }

  /** The epoch at which `partition`'s range was acquired; the current epoch when this broker does not own it. */
  epochOf(partition: Key | undefined): number {
    this.settle();
    if (partition === undefined) return this.#epoch;
    const segments = this.#segments;
    const i = this.#ends.lowerBound(partition);
    return i < segments.length && segments[i].lo.compare(partition) <= 0 ? segments[i].epoch : this.#epoch;
  }

  isOwner(partition: Key): boolean {
    const table = this.host.table();
    return table !== undefined && this.host.isServing() && table.isLocal(table.ownerOf(partition));
  }

  /** Graceful leave: everything is released (once), and listeners are awaited. */
  releaseAll(): Promise<void> {
    this.settle();
    if (this.#released) return Promise.resolve();
    this.#released = true;
    if (this.#owned.length === 0) return Promise.resolve();
    const ranges = toRanges(this.#owned);
    this.#owned = [];
    this.#segments = [];
    this.#ends = new KeyIndex([]);
    return this.host.events.emitAndWait('released', { ranges, epoch: ++this.#epoch });
  }

  /** Recomputes the owned ranges if the ring changed; emits released, then acquired. */
  settle(): void {
    if (!this.#dirty) return;
    this.#dirty = false;
    const table = this.host.table();
    if (table === undefined || this.#released) return;
    const handoff = this.host.handoff?.();
    if (handoff?.isLearning === true) {
      // A joiner settles once it knows the ring (handoff.ts calls changed() again).
      this.#dirty = true;
      return;
    }
    const members = table.members();
    const isLocal = (key: Key) => table.isLocal(key);
    const owned = ownedIntervals(members, isLocal);
    const before = this.#members;
    this.#members = members;
    const acquired = subtract(owned, this.#owned);
    const released = subtract(this.#owned, owned);
    if (acquired.length === 0 && released.length === 0) return;
    const epoch = ++this.#epoch;
    const kept = this.#segments.flatMap((segment) =>
      intersect([segment.interval], owned).map((interval) => ({ interval, epoch: segment.epoch })),
    );
    const fresh = acquired.map((interval) => ({ interval, epoch }));
    this.#segments = [...kept, ...fresh]
      .sort((a, b) => (a.interval.lo < b.interval.lo ? -1 : 1))
      .map(({ interval, epoch: at }) => ({ lo: keyOf(interval.lo), hi: keyOf(interval.hi), interval, epoch: at }));
    this.#ends = new KeyIndex(this.#segments.map((segment) => segment.hi));
    this.#owned = owned;
    if (released.length > 0) handoff?.ownedChanged(owned);
    if (acquired.length > 0) handoff?.acquired(acquired, before, members, isLocal);
    if (released.length > 0) this.host.events.emit('released', { ranges: toRanges(released), epoch });
    if (acquired.length > 0) this.host.events.emit('acquired', { ranges: toRanges(acquired), epoch });
  }
}
