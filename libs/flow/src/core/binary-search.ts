import type { Key } from './key';

/**
 * The first index `i` with `target <= keys[i]`, or `keys.length` when every key
 * sorts before `target`. `keys` must be sorted ascending.
 */
export function lowerBound(keys: readonly Key[], target: Key): number {
  const hi = target.hi;
  const lo = target.lo;
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    const k = keys[mid];
    // Inlined Key.compare: this is the hot path of every routing decision.
    if (k.hi < hi || (k.hi === hi && k.lo < lo)) low = mid + 1;
    else high = mid;
  }
  return low;
}
