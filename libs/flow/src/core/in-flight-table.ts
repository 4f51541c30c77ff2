import type { U64 } from './bytes';

/** Slots of the ring at most; ids beyond its reach go to the overflow map. */
const MAX_SLOTS = 1 << 16;

/**
 * The publisher's unsettled publishes by id. Its ids come from one counter, so
 * the live ones are mostly within a window of it: each goes to the ring slot
 * of its low bits, and only an id whose slot is taken (a publish still
 * unsettled long after later ones) goes to a Map. A Map alone costs a hash
 * insert and delete per message, which profiling showed as one of the
 * publisher's largest costs.
 */
export class InFlightTable<T extends { readonly id: U64 }> {
  private readonly ring: (T | undefined)[];
  private readonly mask: number;
  private readonly overflow = new Map<U64, T>();
  private count = 0;
  /** At most the lowest number id present (see lowest()); meaningless while there is none. */
  private low = 0;
  /** Ids present that are bigints (never from a publisher's counter; lowest() leaves them out). */
  private bigints = 0;

  /** `expected`: how many are usually live at once (the in-flight window). */
  constructor(expected: number) {
    let slots = 1024;
    while (slots < 2 * expected && slots < MAX_SLOTS) slots *= 2;
    this.ring = new Array<T | undefined>(slots).fill(undefined);
    this.mask = slots - 1;
  }

  get size(): number {
    return this.count;
  }

  get(id: U64): T | undefined {
    if (typeof id === 'number') {
      const slot = this.ring[(id >>> 0) & this.mask];
      if (slot !== undefined && slot.id === id) return slot;
    }
    return this.overflow.size === 0 ? undefined : this.overflow.get(id);
  }

  has(id: U64): boolean {
    return this.get(id) !== undefined;
  }

  /**
   * The lowest number id present, undefined when there is none. Ids are
   * added in ascending order (from one counter), so it only moves up: it
   * walks each id between the old and the new lowest once.
   */
  lowest(): number | undefined {
    if (this.count === this.bigints) return undefined;
    let low = this.low;
    while (!this.has(low)) low++;
    this.low = low;
    return low;
  }

  /** Adds `value`, whose id is not in the table. */
  add(value: T): void {
    const { id } = value;
    if (typeof id !== 'number') this.bigints++;
    else if (this.count === this.bigints || id < this.low) this.low = id;
    this.count++;
    if (typeof id === 'number') {
      const at = (id >>> 0) & this.mask;
      if (this.ring[at] === undefined) {
        this.ring[at] = value;
        return;
      }
    }
    this.overflow.set(id, value);
  }

  /** Removes the value with `id`; false when there is none. */
  delete(id: U64): boolean {
    if (typeof id === 'number') {
      const at = (id >>> 0) & this.mask;
      const slot = this.ring[at];
      if (slot !== undefined && slot.id === id) {
        this.ring[at] = undefined;
        this.count--;
        return true;
      }
    }
    if (this.overflow.size === 0 || !this.overflow.delete(id)) return false;
    this.count--;
    if (typeof id !== 'number') this.bigints--;
    return true;
  }

  /** Every value, in ascending id order (publish order). */
  inOrder(): T[] {
    const all: T[] = [];
    if (this.count === 0) return all;
    for (const value of this.ring) if (value !== undefined) all.push(value);
    for (const value of this.overflow.values()) all.push(value);
    return all.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  clear(): void {
    this.ring.fill(undefined);
    this.overflow.clear();
    this.count = 0;
    this.bigints = 0;
  }
}
