import type { Entry, Lane } from './publisher-host';

/**
 * Empty lanes kept for reuse, at most: a busy key opens and empties its lane
 * once per message, and a Map insert and delete per message cost more than
 * the whole rest of the bookkeeping (about 1 MiB at this bound).
 */
export const KEPT_EMPTY_LANES = 16_384;

/**
 * The publisher's partition lanes (publisher.ts, "Per-key order"): per lane,
 * the owner its open (sent, unsettled) messages are at, those messages in
 * publish order as a linked list (each send names its `prev`), and the later
 * messages held back while the lane's owner changes. One Lane object per
 * active lane, and empty ones kept up to KEPT_EMPTY_LANES; nothing per message
 * beyond the entry's two links.
 */
export class PublishLanes {
  private readonly lanes = new Map<number, Lane>();
  private empty = 0;

  /** Lanes tracked, open and kept empty. */
  get size(): number {
    return this.lanes.size;
  }

  /**
   * Opens `entry` at `owner` (key text) behind its lane's open messages: true
   * when it may be sent now; false when it is held (the lane is open at another
   * owner, or others are held already), to be routed again when the lane empties.
   */
  open(entry: Entry, owner: string): boolean {
    let lane = this.lanes.get(entry.lane);
    if (lane === undefined) {
      lane = { owner, open: 0, last: undefined, held: undefined };
      this.lanes.set(entry.lane, lane);
    } else if (lane.open === 0) {
      this.empty--;
    } else if (lane.owner !== owner || lane.held !== undefined) {
      (lane.held ??= []).push(entry);
      return false;
    }
    lane.owner = owner;
    lane.open++;
    entry.openIn = lane;
    entry.prev = lane.last;
    if (lane.last !== undefined) lane.last.next = entry;
    lane.last = entry;
    return true;
  }

  /** Closes a settled open `entry`; the held entries to route again when its lane emptied. */
  close(entry: Entry): Entry[] | undefined {
    // Every lane that leaves the map takes its open entries' openIn with it (here, drop, clear).
    const lane = entry.openIn;
    if (lane === undefined) return undefined;
    if (entry.prev !== undefined) entry.prev.next = entry.next;
    if (entry.next !== undefined) entry.next.prev = entry.prev;
    else if (lane.last === entry) lane.last = entry.prev;
    entry.prev = entry.next = entry.openIn = undefined;
    if (--lane.open > 0) return undefined;
    const held = lane.held;
    lane.last = lane.held = undefined;
    if (this.empty < KEPT_EMPTY_LANES) this.empty++;
    else this.lanes.delete(entry.lane);
    return held;
  }

  /** Forgets the lanes of `moving` (their owner died, all of each lane's open messages among them); their held entries. */
  drop(moving: readonly Entry[]): Entry[] {
    const held: Entry[] = [];
    for (const entry of moving) {
      const lane = this.lanes.get(entry.lane);
      if (lane !== undefined) {
        if (lane.held !== undefined) held.push(...lane.held);
        if (lane.open === 0) this.empty--;
        this.lanes.delete(entry.lane);
      }
      entry.prev = entry.next = entry.openIn = undefined;
    }
    return held;
  }

  clear(): void {
    this.lanes.clear();
    this.empty = 0;
  }
}
