import type { U64 } from './bytes';
import type { Clock } from './clock';
import { Fifo } from './fifo';

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
  settled: boolean;
}

/**
 * Requests this broker forwarded and saw acknowledged, by owner (ring
 * position), for as long as their requester may still wait (`keepMs`). The
 * reply goes from the owner straight to the requester, so this broker never
 * learns that a request was answered: when an owner is found dead, every
 * request still remembered for it is one its requester may be waiting on.
 * Bounded by MAX_DELIVERED_REQUESTS.
 */
export class DeliveredRequests {
  private readonly byOwner = new Map<string, Set<Entry>>();
  private readonly order = new Fifo<Entry>();
  private size = 0;

  constructor(
    private readonly clock: Clock,
    private readonly keepMs: number,
  ) {}

  record(owner: string, reply: string, id: U64): void {
    const entry: Entry = { owner, reply, id, at: this.clock.now(), settled: false };
    let set = this.byOwner.get(owner);
    if (set === undefined) this.byOwner.set(owner, (set = new Set()));
    set.add(entry);
    this.order.push(entry);
    this.size++;
    this.prune();
  }

  /** Requests remembered, over all owners. */
  get count(): number {
    return this.size;
  }

  /** Up to `limit` owners holding a request recorded before `before` (clock time), oldest first per owner. */
  ownersWaitingSince(before: number, limit: number): string[] {
    this.prune();
    const owners: string[] = [];
    for (const [owner, set] of this.byOwner) {
      if (owners.length >= limit) break;
      // A Set iterates in insertion order: its first entry is its oldest.
      const oldest = set.values().next().value as Entry;
      if (oldest.at <= before) owners.push(owner);
    }
    return owners;
  }

  /** Takes (and forgets) the requests still remembered for `owner`. */
  take(owner: string): DeliveredRequest[] {
    this.prune();
    const set = this.byOwner.get(owner);
    if (set === undefined) return [];
    this.byOwner.delete(owner);
    const taken: DeliveredRequest[] = [];
    for (const entry of set) {
      entry.settled = true;
      this.size--;
      taken.push(entry);
    }
    return taken;
  }

  /** Forgets what expired, what was taken, and the oldest beyond the bound. */
  private prune(): void {
    const oldest = this.clock.now() - this.keepMs;
    for (;;) {
      const entry = this.order.peek();
      if (entry === undefined) return;
      if (!entry.settled && entry.at > oldest && this.size <= MAX_DELIVERED_REQUESTS) return;
      this.order.shift();
      if (entry.settled) continue;
      entry.settled = true;
      this.size--;
      const set = this.byOwner.get(entry.owner)!;
      set.delete(entry);
      if (set.size === 0) this.byOwner.delete(entry.owner);
    }
  }
}
