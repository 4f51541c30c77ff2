import type { U64 } from './bytes';

/** A direct publish held by its owner until its predecessor is queued. */
export interface HeldForward<T> {
  readonly origin: string;
  readonly id: U64;
  /** The predecessor it waits for. */
  readonly after: U64;
  readonly since: number;
  readonly value: T;
}

/**
 * The owner's side of per-lane order (docs/PROTOCOL.md, "Order"): a direct
 * publish whose FWD names a predecessor (flag Follows) that this owner has not
 * queued yet is held here until it is, then runs right after it.
 *
 * Bounded: at most `capacity` messages are held over all publishers; when full,
 * a new one is not held but dropped unanswered, and one held longer than
 * `maxAgeMs` is dropped the same way (found when the next is held). Neither is
 * lost: the publisher keeps every unanswered publish and sends it again, and
 * says in each send which predecessor is still unsettled, so a gap that cannot
 * fill (the predecessor was refused, or settled elsewhere) ends at the next
 * send. Nothing is allocated unless a message is held.
 */
export class LaneOrder<T> {
  /** By `<origin>/<id>`, oldest first. */
  private readonly byId = new Map<string, HeldForward<T>>();
  /** By `<origin>/<predecessor>`: the message waiting for it. */
  private readonly byAfter = new Map<string, HeldForward<T>>();

  constructor(
    private readonly capacity: number,
    private readonly maxAgeMs: number,
  ) {}

  get size(): number {
    return this.byId.size;
  }

  /**
   * Holds `value` (message `id` of `origin`) until `after` is released. False
   * when it could not be held (full, or another message waits for `after`):
   * the caller drops it unanswered.
   */
  hold(origin: string, id: U64, after: U64, now: number, value: T): boolean {
    this.expire(now);
    const waitsFor = `${origin}/${after}`;
    if (this.byId.size >= this.capacity || this.byAfter.has(waitsFor)) return false;
    const held: HeldForward<T> = { origin, id, after, since: now, value };
    this.byId.set(`${origin}/${id}`, held);
    this.byAfter.set(waitsFor, held);
    return true;
  }

  /** Removes a held copy of message `id` of `origin` (it arrived again); true when one was held. */
  forget(origin: string, id: U64): boolean {
    const held = this.byId.get(`${origin}/${id}`);
    if (held === undefined) return false;
    this.remove(held);
    return true;
  }

  /** Message `id` of `origin` was queued or refused: the message waiting for it, no longer held. */
  release(origin: string, id: U64): HeldForward<T> | undefined {
    const held = this.byAfter.get(`${origin}/${id}`);
    if (held !== undefined) this.remove(held);
    return held;
  }

  private remove(held: HeldForward<T>): void {
    this.byId.delete(`${held.origin}/${held.id}`);
    this.byAfter.delete(`${held.origin}/${held.after}`);
  }

  private expire(now: number): void {
    for (const held of this.byId.values()) {
      if (now - held.since < this.maxAgeMs) return;
      this.remove(held);
    }
  }
}
