import type { U64 } from './bytes';

const EMPTY = 0;
const QUEUED = 1;
const HANDLED = 2;
/** State flag: the slot's id is a bigint (above 2^53 - 1), kept in `bigIds`. */
const BIG = 4;

const TWO_32 = 2 ** 32;

/**
 * The acceptor's duplicate window: for the newest `capacity` publishes over all
 * origins, whether each is handled (true) or still queued (false).
 *
 * Memory: a full window of 131,072 entries held about 13 MiB as per-origin
 * Maps of boxed ids; here an entry is a slot of typed arrays (origin number,
 * id, state) plus two index cells of an open-addressing table, about 21
 * bytes. Ids are numbers up to 2^53 - 1 (canonical U64); larger ones are
 * bigints, kept aside in a Map (foreign publishers only). The slots form a
 * ring in insertion order, so the oldest entry is forgotten first, as one
 * insertion-ordered map would; setting an id already present only changes its
 * state. Origins are numbered while they have entries.
 */
export class DuplicateWindow {
  /** Per slot: origin number, id (numbers), state (EMPTY, QUEUED or HANDLED, | BIG). */
  private readonly slotOrigin: Int32Array;
  private readonly slotId: Float64Array;
  private readonly slotState: Uint8Array;
  /** Open addressing with linear probing: slot + 1, 0 = free. */
  private readonly index: Int32Array;
  private readonly mask: number;
  /** Ids of BIG slots, by slot. */
  private readonly bigIds = new Map<number, bigint>();
  private readonly originNumbers = new Map<string, number>();
  private readonly originNames: string[] = [];
  private readonly originEntries: number[] = [];
  private readonly freeOrigins: number[] = [];
  private used = 0;
  /** Next slot to fill, then to overwrite once the ring is full. */
  private next = 0;
  private lastText: string | undefined;
  private lastOrigin = -1;

  constructor(private readonly capacity: number) {
    this.slotOrigin = new Int32Array(capacity);
    this.slotId = new Float64Array(capacity);
    this.slotState = new Uint8Array(capacity);
    let size = 16;
    while (size < capacity * 2) size *= 2;
    this.index = new Int32Array(size);
    this.mask = size - 1;
  }

  get size(): number {
    return this.used;
  }

  /** True once handled, false while queued, undefined when not in the window. */
  get(origin: string, id: U64): boolean | undefined {
    const number = this.originNumberOf(origin, false);
    if (number < 0) return undefined;
    const slot = this.find(number, id);
    return slot < 0 ? undefined : (this.slotState[slot]! & HANDLED) !== 0;
  }

  /** Records `id` of `origin` (a new entry is the newest); an entry already present only changes state. */
  set(origin: string, id: U64, handled: boolean): void {
    let number = this.originNumberOf(origin, false);
    if (number >= 0) {
      const slot = this.find(number, id);
      if (slot >= 0) {
        this.slotState[slot] = (this.slotState[slot]! & BIG) | (handled ? HANDLED : QUEUED);
        return;
      }
    }
    const slot = this.next;
    if (this.slotState[slot] !== EMPTY) this.evict(slot);
    else this.used++;
    this.next = slot + 1 === this.capacity ? 0 : slot + 1;
    // After the eviction: it may have released this very origin's number.
    if (number < 0 || this.originNames[number] !== origin) number = this.originNumberOf(origin, true);
    this.originEntries[number]!++;
    this.slotOrigin[slot] = number;
    const state = handled ? HANDLED : QUEUED;
    if (typeof id === 'bigint') {
      this.slotState[slot] = state | BIG;
      this.slotId[slot] = 0;
      this.bigIds.set(slot, id);
    } else {
      this.slotState[slot] = state;
      this.slotId[slot] = id;
    }
    let cell = this.hash(number, id) & this.mask;
    while (this.index[cell] !== 0) cell = (cell + 1) & this.mask;
    this.index[cell] = slot + 1;
  }

  /** Marks `id` of `origin` handled when it is still in the window. */
  markHandled(origin: string, id: U64): void {
    const number = this.originNumberOf(origin, false);
    if (number < 0) return;
    const slot = this.find(number, id);
    if (slot >= 0) this.slotState[slot] = (this.slotState[slot]! & BIG) | HANDLED;
  }

  /** The slot of `id` of origin `number`, or -1. */
  private find(number: number, id: U64): number {
    const big = typeof id === 'bigint';
    for (let cell = this.hash(number, id) & this.mask; ; cell = (cell + 1) & this.mask) {
      const entry = this.index[cell]!;
      if (entry === 0) return -1;
      const slot = entry - 1;
      if (this.slotOrigin[slot] !== number) continue;
      if (big ? (this.slotState[slot]! & BIG) !== 0 && this.bigIds.get(slot) === id : (this.slotState[slot]! & BIG) === 0 && this.slotId[slot] === id) {
        return slot;
      }
    }
  }

  /** Removes the entry in `slot` (the oldest) from the index, and its origin once it has no entries left. */
  private evict(slot: number): void {
    const number = this.slotOrigin[slot]!;
    const big = (this.slotState[slot]! & BIG) !== 0;
    const id = big ? this.bigIds.get(slot)! : this.slotId[slot]!;
    // Always found; the stop at a free cell only bounds the loop.
    let cell = this.hash(number, id) & this.mask;
    while (this.index[cell] !== slot + 1 && this.index[cell] !== 0) cell = (cell + 1) & this.mask;
    if (this.index[cell] !== 0) this.removeCell(cell);
    if (big) this.bigIds.delete(slot);
    this.slotState[slot] = EMPTY;
    if (--this.originEntries[number]! === 0) {
      this.originNumbers.delete(this.originNames[number]!);
      this.originNames[number] = '';
      this.freeOrigins.push(number);
      if (this.lastOrigin === number) {
        this.lastText = undefined;
        this.lastOrigin = -1;
      }
    }
  }

  /** Backward-shift deletion: later entries of the probe run move up, so lookups never stop early. */
  private removeCell(cell: number): void {
    const { index, mask } = this;
    let hole = cell;
    for (let at = (hole + 1) & mask; index[at] !== 0; at = (at + 1) & mask) {
      const slot = index[at]! - 1;
      const home = this.hashOfSlot(slot) & mask;
      // Moves when its home is not within (hole, at] cyclically.
      if ((at > hole && (home <= hole || home > at)) || (at < hole && home <= hole && home > at)) {
        index[hole] = index[at]!;
        hole = at;
      }
    }
    index[hole] = 0;
  }

  private hashOfSlot(slot: number): number {
    const big = (this.slotState[slot]! & BIG) !== 0;
    return this.hash(this.slotOrigin[slot]!, big ? this.bigIds.get(slot)! : this.slotId[slot]!);
  }

  private hash(number: number, id: U64): number {
    let low: number;
    let high: number;
    if (typeof id === 'bigint') {
      low = Number(id & 0xffffffffn);
      high = Number((id >> 32n) & 0xffffffffn);
    } else {
      low = id >>> 0;
      high = (id / TWO_32) >>> 0;
    }
    let h = Math.imul(low ^ Math.imul(high, 0x9e3779b1) ^ Math.imul(number + 1, 0x85ebca6b), 0xcc9e2d51);
    h ^= h >>> 15;
    h = Math.imul(h, 0x1b873593);
    return (h ^ (h >>> 13)) >>> 0;
  }

  private originNumberOf(origin: string, create: boolean): number {
    if (origin === this.lastText) return this.lastOrigin;
    let number = this.originNumbers.get(origin);
    if (number === undefined) {
      if (!create) return -1;
      number = this.freeOrigins.pop() ?? this.originNames.length;
      this.originNumbers.set(origin, number);
      this.originNames[number] = origin;
      this.originEntries[number] = 0;
    }
    this.lastText = origin;
    this.lastOrigin = number;
    return number;
  }
}
