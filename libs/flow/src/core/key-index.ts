import type { Key } from './key';

/** The bucket table has at most 2^MAX_BUCKET_BITS buckets (256 KiB of starts). */
const MAX_BUCKET_BITS = 16;

/**
 * A sorted list of keys laid out for search: their high and low halves in two
 * typed arrays, so a search reads numbers in order instead of following a
 * pointer to a Key object per step (the routing hot path: owner lookups).
 *
 * A bucket table narrows each search first: the high halves' top bits pick a
 * bucket, which holds the index of its first key, so a search only looks
 * between one bucket's first key and the next's. There are about twice as many
 * buckets as keys (a power of two, at most 2^MAX_BUCKET_BITS), so most
 * searches compare with one key or none, where a binary search over a ring of
 * 768 positions takes ten steps whose branches a CPU cannot predict.
 * Immutable: built once from keys sorted ascending; rebuild it on change.
 */
export class KeyIndex {
  private readonly his: Uint32Array;
  private readonly los: Uint32Array;
  /** Per bucket b, the index of the first key whose high half is at least b << shift; one more entry for the end. */
  private readonly starts: Int32Array;
  /** 32 minus the bucket bits: a high half's bucket is `hi >>> shift`. */
  private readonly shift: number;

  constructor(sorted: readonly Key[]) {
    const n = sorted.length;
    this.his = new Uint32Array(n);
    this.los = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      this.his[i] = sorted[i].hi;
      this.los[i] = sorted[i].lo;
    }
    let bits = 1;
    while (bits < MAX_BUCKET_BITS && 1 << bits < 2 * n) bits++;
    this.shift = 32 - bits;
    const buckets = 1 << bits;
    this.starts = new Int32Array(buckets + 1);
    let i = 0;
    for (let bucket = 0; bucket < buckets; bucket++) {
      while (i < n && this.his[i] >>> this.shift < bucket) i++;
      this.starts[bucket] = i;
    }
    this.starts[buckets] = n;
  }

  get length(): number {
    return this.his.length;
  }

  /** The first index `i` with `target <= keys[i]`, or `length` when every key sorts before `target`. */
  lowerBound(target: Key): number {
    const { his, los, starts } = this;
    const hi = target.hi;
    const lo = target.lo;
    const bucket = hi >>> this.shift;
    // Keys before the bucket's first sort before `target`; the next bucket's first sorts after it.
    let low = starts[bucket];
    let high = starts[bucket + 1];
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
