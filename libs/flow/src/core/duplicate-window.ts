import type { U64 } from './bytes';

/**
 * Slots an empty window starts with, then after each growth (each at most the
 * capacity); past the last step, the capacity.
 */
const STEPS = [1024, 4096, 16_384];
const TWO_32 = 0x100000000;
const STATE_QUEUED = 1;
const STATE_HANDLED = 2;
/** Flag beside the state: the entry came with its publisher's floor (setFloor), which can retire it. */
const STATE_FLOORED = 4;
/** Refused after it was recorded (markRefused): looked up as not in the window. */
const STATE_REFUSED = 8;

/**
 * The acceptor's duplicate window: for the newest publishes over all origins
 * (at most `capacity`, fewer once their publishers' floors retire them),
 * whether each is handled (true) or still queued (false).
 *
 * Entries live in typed arrays (no object or heap number per message): a ring
 * of slots in insertion order (an id as two u32 halves, the index of its
 * origin, its state) says which entry leaves when the window is full, so the
 * oldest is forgotten first, as one insertion-ordered map would. An
 * open-addressing index (linear probing, deletion by backward shift, so no
 * tombstones) finds a slot by origin and id.
 *
 * Floors: a publisher that keeps every unsettled publish until it is settled
 * says, with each FWD, the lowest id it has unsettled (its floor): it will
 * never send an id below it again. An entry recorded as `floored` whose id is
 * below its origin's latest floor is retired: it leaves before the window
 * grows. Only floored entries retire, because a broker's forwards share its
 * publisher's origin and ids but not its floor. The latest floor counts, not
 * the highest: a publisher restarted under the same node key starts its ids
 * at a new random point, maybe below its previous instance's floor.
 *
 * Growth: an idle window stays small (STEPS[0]). When its slots are full and
 * the oldest entry has not retired, it takes the next of STEPS, then its
 * capacity, never shrinks, and then allocates nothing more; at the capacity
 * the oldest entry leaves, retired or not. So a window whose publishers send
 * floors holds about what they sent since their oldest unsettled publish (one
 * stalled publish keeps everything newer), and one whose publishers do not
 * (Go's forwards, older Flow publishers) grows to the capacity as before.
 * Few steps, not doubling: each step frees the previous arrays, and glibc's
 * malloc raises its mmap threshold to the size of a freed mmapped block (128
 * KiB and more), after which the process keeps more freed memory in its heap;
 * the middle steps' arrays stay at or below 128 KiB. The 4,096 step keeps a
 * window whose publishers' floors trail by a few thousand (bench/nats-core,
 * acknowledged: 4,096 slots, full) within about 100 KB: each new publish reads
 * and writes random index positions, which at the 16,384 step (400 KB) missed
 * the CPU's caches (the window's share of a receiver's time went from 18.8 % to
 * 8.7 % in one profile). Origins are
 * numbered while they have entries; an origin whose last entry leaves gives
 * its number back, and its floor with it.
 */
export class DuplicateWindow {
  private idHi: Uint32Array;
  private idLo: Uint32Array;
  private originOf: Int32Array;
  /** 0 for a free slot, else STATE_QUEUED, STATE_HANDLED or STATE_REFUSED, with STATE_FLOORED. */
  private state: Uint8Array;
  private slotHash: Int32Array;
  /** Slot + 1 per index position; 0 is empty. At most half full. */
  private index: Int32Array;
  private mask: number;
  private count = 0;
  /** The oldest entry's slot once every allocated slot is taken (0 before), the next to overwrite. */
  private next = 0;

  private readonly originNumbers = new Map<string, number>();
  private originTexts: string[] = [];
  /** Entries per origin number; an origin with none is given back. */
  private originEntries: number[] = [];
  private readonly freeOrigins: number[] = [];
  /** Per origin number: its latest floor's halves, or -1 (floorHi) for none. */
  private floorHi: number[] = [];
  private floorLo: number[] = [];
  private lastText: string | undefined;
  private lastOrigin = -1;

  /** Halves of the id being looked up (set by split). */
  private hi = 0;
  private lo = 0;

  /** Bumped whenever the index changes: a remembered miss is good only while it stays. */
  private stamp = 0;
  /** The last get() that missed, and the empty index position where its search ended. */
  private missOrigin = -1;
  private missHi = 0;
  private missLo = 0;
  private missAt = 0;
  private missStamp = -1;

  constructor(private readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`duplicate window capacity ${capacity}`);
    const slots = Math.min(capacity, STEPS[0]);
    this.idHi = new Uint32Array(slots);
    this.idLo = new Uint32Array(slots);
    this.originOf = new Int32Array(slots);
    this.state = new Uint8Array(slots);
    this.slotHash = new Int32Array(slots);
    this.index = new Int32Array(indexSize(slots));
    this.mask = this.index.length - 1;
  }

  get size(): number {
    return this.count;
  }

  /** Origins with entries in the window. */
  get origins(): number {
    return this.originNumbers.size;
  }

  /** Slots allocated now: STEPS[0] (or the capacity when smaller), then the next steps up to the capacity. */
  get allocated(): number {
    return this.state.length;
  }

  /** True once handled, false while queued, undefined when not in the window (or refused since). */
  get(origin: string, id: U64): boolean | undefined {
    const number = this.originNumber(origin, false);
    if (number < 0) return undefined;
    this.split(id);
    const slot = this.find(number, hashOf(number, this.hi, this.lo));
    if (slot >= 0) {
      const state = this.state[slot];
      // A refused entry is still in the index: set() must find it, so this is not a remembered miss.
      return (state & STATE_REFUSED) !== 0 ? undefined : (state & STATE_HANDLED) !== 0;
    }
    this.missAt = -1 - slot;
    // Most misses are followed by set() of the same id (a new publish): it can skip the search.
    this.missOrigin = number;
    this.missHi = this.hi;
    this.missLo = this.lo;
    this.missStamp = this.stamp;
    return undefined;
  }

  /**
   * Records `id` of `origin` (a new entry is the newest); an entry already
   * present only changes state. `floored`: it came with its publisher's floor
   * (see the class comment).
   */
  set(origin: string, id: U64, handled: boolean, floored = false): void {
    const state = (handled ? STATE_HANDLED : STATE_QUEUED) | (floored ? STATE_FLOORED : 0);
    const number = this.originNumber(origin, true);
    this.split(id);
    const { hi, lo } = this;
    const hash = hashOf(number, hi, lo);
    const known = this.missStamp === this.stamp && this.missOrigin === number && this.missHi === hi && this.missLo === lo;
    const found = known ? -1 : this.find(number, hash);
    if (found >= 0) {
      this.state[found] = state | (this.state[found] & STATE_FLOORED);
      return;
    }
    // Counted first, so that evicting this origin's last entry keeps its number.
    this.originEntries[number]++;
    if (this.count === this.state.length && this.count < this.capacity && !this.retired(this.next)) this.grow();
    let slot: number;
    if (this.count < this.state.length) slot = this.count++;
    else {
      slot = this.next;
      this.next = slot + 1 === this.count ? 0 : slot + 1;
      this.evict(slot);
    }
    this.idHi[slot] = hi;
    this.idLo[slot] = lo;
    this.originOf[slot] = number;
    this.state[slot] = state;
    this.slotHash[slot] = hash;
    // The remembered miss ended at an empty position of this id's probe run, still empty if nothing moved since.
    if (known && this.missStamp === this.stamp) this.index[this.missAt] = slot + 1;
    else this.place(slot, hash);
    this.stamp++;
  }

  /** Marks `id` of `origin` handled when it is still in the window. */
  markHandled(origin: string, id: U64): void {
    this.mark(origin, id, STATE_HANDLED);
  }

  /**
   * Marks `id` of `origin` refused when it is still in the window: it was
   * recorded, then could not be placed after all (its new owner refused it).
   * A publish of it sent again is then taken as new; set() records it again.
   */
  markRefused(origin: string, id: U64): void {
    this.mark(origin, id, STATE_REFUSED);
  }

  /** Whether `id` of `origin` is in the window, refused (markRefused, refusedNow). */
  isRefused(origin: string, id: U64): boolean {
    const number = this.originNumber(origin, false);
    if (number < 0) return false;
    this.split(id);
    const slot = this.find(number, hashOf(number, this.hi, this.lo));
    return slot >= 0 && (this.state[slot] & STATE_REFUSED) !== 0;
  }

  /** Records `id` of `origin` as refused: a new entry when it is not in the window, else the entry's new state. */
  refusedNow(origin: string, id: U64): void {
    // set() adds the entry or only changes its state; markRefused() then gives it the refused one.
    this.set(origin, id, false);
    this.markRefused(origin, id);
  }

  /** Gives `id` of `origin` the state `state` (its floored flag kept) when it is still in the window. */
  private mark(origin: string, id: U64, state: number): void {
    const number = this.originNumber(origin, false);
    if (number < 0) return;
    this.split(id);
    const slot = this.find(number, hashOf(number, this.hi, this.lo));
    if (slot >= 0) this.state[slot] = state | (this.state[slot] & STATE_FLOORED);
  }

  /** `origin` will not send an id below `floor` again: its floored entries below it retire. */
  setFloor(origin: string, floor: U64): void {
    const number = this.originNumber(origin, false);
    if (number < 0) return;
    this.split(floor);
    this.floorHi[number] = this.hi;
    this.floorLo[number] = this.lo;
  }

  /** Whether `slot`'s entry is floored and below its origin's floor. */
  private retired(slot: number): boolean {
    if ((this.state[slot] & STATE_FLOORED) === 0) return false;
    const number = this.originOf[slot];
    const hi = this.floorHi[number];
    return hi >= 0 && (this.idHi[slot] < hi || (this.idHi[slot] === hi && this.idLo[slot] < this.floorLo[number]));
  }

  private split(id: U64): void {
    if (typeof id === 'number') {
      this.hi = (id / TWO_32) >>> 0;
      this.lo = id >>> 0;
    } else {
      this.hi = Number(id >> 32n);
      this.lo = Number(id & 0xffffffffn);
    }
  }

  /** The slot holding (number, this.hi, this.lo); when none, -1 - the empty index position that ended the search. */
  private find(number: number, hash: number): number {
    const { index, mask, idHi, idLo, originOf } = this;
    const { hi, lo } = this;
    for (let at = hash & mask; ; at = (at + 1) & mask) {
      const entry = index[at];
      if (entry === 0) return -1 - at;
      const slot = entry - 1;
      if (idLo[slot] === lo && idHi[slot] === hi && originOf[slot] === number) return slot;
    }
  }

  private place(slot: number, hash: number): void {
    const { index, mask } = this;
    let at = hash & mask;
    while (index[at] !== 0) at = (at + 1) & mask;
    index[at] = slot + 1;
  }

  /** Removes `slot`'s entry from the index (backward shift) and from its origin's count. */
  private evict(slot: number): void {
    const { index, mask, slotHash: hashes } = this;
    let hole = hashes[slot] & mask;
    while (index[hole] !== slot + 1) hole = (hole + 1) & mask;
    // Shift later members of the probe run back into the hole unless that would
    // put one before its home position.
    for (let at = (hole + 1) & mask; index[at] !== 0; at = (at + 1) & mask) {
      const home = hashes[index[at] - 1] & mask;
      const movable = hole <= at ? home <= hole || home > at : home <= hole && home > at;
      if (movable) {
        index[hole] = index[at];
        hole = at;
      }
    }
    index[hole] = 0;
    this.stamp++;
    const number = this.originOf[slot];
    if (--this.originEntries[number] === 0) this.releaseOrigin(number);
  }

  /** The next step of slots, with the entries oldest first from slot 0 (the ring may have wrapped). */
  private grow(): void {
    const slots = Math.min(this.capacity, STEPS.find((step) => step > this.state.length) ?? this.capacity);
    const from = this.next;
    this.idHi = rotated(new Uint32Array(slots), this.idHi, from);
    this.idLo = rotated(new Uint32Array(slots), this.idLo, from);
    this.originOf = rotated(new Int32Array(slots), this.originOf, from);
    this.state = rotated(new Uint8Array(slots), this.state, from);
    this.slotHash = rotated(new Int32Array(slots), this.slotHash, from);
    this.next = 0;
    this.index = new Int32Array(indexSize(slots));
    this.mask = this.index.length - 1;
    this.stamp++;
    for (let slot = 0; slot < this.count; slot++) this.place(slot, this.slotHash[slot]);
  }

  /** `origin`'s number (the last one is cached: most publishes come from few origins), or -1. */
  private originNumber(origin: string, create: boolean): number {
    if (origin === this.lastText) return this.lastOrigin;
    let number = this.originNumbers.get(origin);
    if (number === undefined) {
      if (!create) return -1;
      number = this.freeOrigins.pop() ?? this.originTexts.length;
      this.originNumbers.set(origin, number);
      this.originTexts[number] = origin;
      this.originEntries[number] = 0;
      this.floorHi[number] = -1;
    }
    this.lastText = origin;
    this.lastOrigin = number;
    return number;
  }

  private releaseOrigin(number: number): void {
    const text = this.originTexts[number];
    this.originNumbers.delete(text);
    this.originTexts[number] = '';
    this.freeOrigins.push(number);
    if (this.lastOrigin === number) {
      this.lastText = undefined;
      this.lastOrigin = -1;
    }
  }
}

/** `into` holding all of `from` (a full ring), starting with its slot `first`. */
function rotated<T extends Uint32Array | Int32Array | Uint8Array>(into: T, from: T, first: number): T {
  into.set(from.subarray(first), 0);
  into.set(from.subarray(0, first), from.length - first);
  return into;
}

/** A power of two at least twice `slots`: the index stays at most half full. */
function indexSize(slots: number): number {
  let size = 2;
  while (size < slots * 2) size *= 2;
  return size;
}

/** Mixes origin number and id halves (ids are mostly consecutive counters); exported for the spec. */
export function hashOf(origin: number, hi: number, lo: number): number {
  let h = Math.imul(lo ^ Math.imul(origin, 0x9e3779b1), 0x85ebca6b) ^ hi;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  return h ^ (h >>> 16);
}
