import type { U64 } from './bytes';

/**
 * The acceptor's duplicate window: for the newest `capacity` publishes over all
 * origins, whether each is handled (true) or still queued (false).
 *
 * Ids are kept per origin in numeric maps (no `<origin>/<id>` string per
 * message); a ring of slots, in insertion order, says which id leaves when the
 * window is full, so the oldest is forgotten first, as one insertion-ordered
 * map would.
 */
export class DuplicateWindow {
  private readonly byOrigin = new Map<string, Map<U64, boolean>>();
  private readonly slotOrigin: Map<U64, boolean>[] = [];
  private readonly slotOriginText: string[] = [];
  private readonly slotId: U64[] = [];
  /** Next slot to overwrite once the ring is full. */
  private next = 0;
  private lastText: string | undefined;
  private lastIds: Map<U64, boolean> | undefined;

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.slotId.length;
  }

  /** True once handled, false while queued, undefined when not in the window. */
  get(origin: string, id: U64): boolean | undefined {
    return this.idsOf(origin, false)?.get(id);
  }

  /** Records `id` of `origin` (a new entry is the newest); an entry already present only changes state. */
  set(origin: string, id: U64, handled: boolean): void {
    const ids = this.idsOf(origin, true)!;
    const before = ids.size;
    ids.set(id, handled);
    // Already present: only its state changed (one lookup instead of has + set).
    if (ids.size === before) return;
    if (this.slotId.length < this.capacity) {
      this.slotOrigin.push(ids);
      this.slotOriginText.push(origin);
      this.slotId.push(id);
      return;
    }
    const at = this.next;
    this.evict(this.slotOrigin[at], this.slotOriginText[at], this.slotId[at]);
    this.slotOrigin[at] = ids;
    this.slotOriginText[at] = origin;
    this.slotId[at] = id;
    this.next = at + 1 === this.capacity ? 0 : at + 1;
  }

  /** Marks `id` of `origin` handled when it is still in the window. */
  markHandled(origin: string, id: U64): void {
    const ids = this.idsOf(origin, false);
    if (ids !== undefined && ids.has(id)) ids.set(id, true);
  }

  private evict(ids: Map<U64, boolean>, origin: string, id: U64): void {
    ids.delete(id);
    if (ids.size === 0 && this.byOrigin.get(origin) === ids) {
      this.byOrigin.delete(origin);
      if (this.lastIds === ids) this.lastText = this.lastIds = undefined;
    }
  }

  private idsOf(origin: string, create: boolean): Map<U64, boolean> | undefined {
    if (origin === this.lastText) return this.lastIds;
    let ids = this.byOrigin.get(origin);
    if (ids === undefined) {
      if (!create) return undefined;
      ids = new Map();
      this.byOrigin.set(origin, ids);
    }
    this.lastText = origin;
    this.lastIds = ids;
    return ids;
  }
}
