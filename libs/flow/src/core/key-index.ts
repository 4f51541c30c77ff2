import type { Key } from './key';

/**
 * A sorted list of keys laid out for binary search: their high and low halves
 * in two typed arrays, so a search reads numbers in order instead of following
 * a pointer to a Key object per step (the routing hot path: owner lookups).
 * Immutable: built once from keys sorted ascending; rebuild it on change.
 */
export class KeyIndex {
  private readonly his: Uint32Array;
  private readonly los: Uint32Array;

  constructor(sorted: readonly Key[]) {
    this.his = new Uint32Array(sorted.length);
    this.los = new Uint32Array(sorted.length);
    for (let i = 0; i < sorted.length; i++) {
      this.his[i] = sorted[i].hi;
      this.los[i] = sorted[i].lo;
    }
  }

  get length(): number {
    return this.his.length;
  }

  /** The first index `i` with `target <= keys[i]`, or `length` when every key sorts before `target`. */
  lowerBound(target: Key): number {
    const { his, los } = this;
    const hi = target.hi;
    const lo = target.lo;
    let low = 0;
    let high = his.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      const h = his[mid];
      if (h < hi || (h === hi && los[mid] < lo)) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** True when `key` is one of the keys. */
  has(key: Key): boolean {
    const i = this.lowerBound(key);
    return i < this.his.length && this.his[i] === key.hi && this.los[i] === key.lo;
  }
}
