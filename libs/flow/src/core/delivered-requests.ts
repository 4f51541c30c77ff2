import type { U64 } from './bytes';
import type { Clock } from './clock';
import { Fifo } from './fifo';
import { IdTable } from './id-table';

/** Requests remembered at most, over all owners; the oldest are forgotten first. */
export const MAX_DELIVERED_REQUESTS = 1 << 16;

export interface DeliveredRequest {
  /** The requester's node subject. */
  readonly reply: string;
  /** The request's id, as the requester knows it. */
  readonly id: U64;
}

interface Entry extends DeliveredRequest {
  readonly owner: string;
  readonly at: number;
  /** A request of this broker's own, forgotten when it ends (`forget`). */
  readonly own: boolean;
  settled: boolean;
}

/**
 * Requests this broker forwarded and saw acknowledged, by owner (ring
 * position), for as long as their requester may still wait (`keepMs`). The
 * reply goes from the owner straight to the requester, so this broker never
 * learns that a request was answered: when an owner is found dead, every
 * request still remembered for it is one its requester may be waiting on.
 * This broker's own requests are the exception: it hears their replies, and
 * forgets each when it ends, so a requester only remembers what it still
 * awaits. Bounded by MAX_DELIVERED_REQUESTS (the order queue included).
 */
export class DeliveredRequests {
  /**
   * Every remembered request in the order recorded, so by age; settled ones
   * leave from the front. No map by owner: the owner sets gained and lost an
   * entry per request, which V8 pays for in old-generation garbage (IdTable),
   * and only a dead owner (take) or the watch (ownersWaitingSince) asks.
   */
  private readonly order = new Fifo<Entry>();
  /** This broker's own remembered requests, by id. */
  private readonly own = new IdTable<Entry>();
  private size = 0;

  constructor(
    private readonly clock: Clock,
    private readonly keepMs: number,
  ) {}

  /** `own`: a request of this broker's, whose end it hears (see `forget`). */
  record(owner: string, reply: string, id: U64, own = false): void {
    const entry: Entry = { owner, reply, id, at: this.clock.now(), own, settled: false };
    if (own) this.own.set(id, entry);
    this.order.push(entry);
    this.size++;
    this.prune();
  }

  /** This broker's own request `id` ended (replied, failed, timed out): no longer waited for. */
  forget(id: U64): void {
    if (this.own.size === 0) return;
    const entry = this.own.get(id);
    if (entry !== undefined && !entry.settled) this.settle(entry);
  }

  /** Requests remembered, over all owners. */
  get count(): number {
    return this.size;
  }

  /** Up to `limit` owners holding a request recorded at or before `before` (clock time), the one waiting longest first. */
  ownersWaitingSince(before: number, limit: number): string[] {
    this.prune();
    const owners = new Set<string>();
    for (let at = 0; owners.size < limit; at++) {
      const entry = this.order.at(at);
      if (entry === undefined || entry.at > before) break;
      if (!entry.settled) owners.add(entry.owner);
    }
    return [...owners];
  }

  /** Takes (and forgets) the requests still remembered for `owner`, oldest first. */
  take(owner: string): DeliveredRequest[] {
    this.prune();
    const taken: Entry[] = [];
    this.order.forEach((entry) => {
      if (!entry.settled && entry.owner === owner) taken.push(entry);
    });
    for (const entry of taken) this.settle(entry);
    return taken;
  }

  /** Forgets what expired, what was taken, and the oldest beyond the bound. */
  private prune(): void {
    const oldest = this.clock.now() - this.keepMs;
    for (;;) {
      const entry = this.order.peek();
      if (entry === undefined) return;
      if (!entry.settled && entry.at > oldest && this.order.length <= MAX_DELIVERED_REQUESTS) return;
      this.order.shift();
      if (!entry.settled) this.settle(entry);
    }
  }

  private settle(entry: Entry): void {
    entry.settled = true;
    this.size--;
    if (entry.own) this.own.delete(entry.id);
  }
}
