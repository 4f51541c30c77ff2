import { Key } from './key';

/**
 * A range of the 64-bit partition hash space, both bounds inclusive, as 16
 * hex digits each. It wraps around zero when `from > to`; `from` 0 and `to`
 * ffffffffffffffff is the whole ring. A hash `h` is in the range when
 * `from <= h <= to` (or, wrapping, `h >= from || h <= to`).
 */
export interface KeyRange {
  readonly from: string;
  readonly to: string;
}

/** A non-wrapping inclusive interval of hashes, ascending lists of which are disjoint and not adjacent. */
export interface Interval {
  lo: bigint;
  hi: bigint;
}

export const MAX_HASH = (1n << 64n) - 1n;

/** The hashes a ring's local positions own: each local position's arc (predecessor, position]. */
export function ownedIntervals(members: readonly Key[], isLocal: (key: Key) => boolean): Interval[] {
  const n = members.length;
  const parts: Interval[] = [];
  for (let i = 0; i < n; i++) {
    if (!isLocal(members[i])) continue;
    if (n === 1) return [{ lo: 0n, hi: MAX_HASH }];
    const at = members[i].toBigInt();
    const before = members[(i + n - 1) % n].toBigInt();
    if (before < at) {
      parts.push({ lo: before + 1n, hi: at });
    } else {
      parts.push({ lo: 0n, hi: at });
      if (before < MAX_HASH) parts.push({ lo: before + 1n, hi: MAX_HASH });
    }
  }
  return normalize(parts);
}

/** Sorts and merges overlapping or adjacent intervals. */
export function normalize(parts: readonly Interval[]): Interval[] {
  const sorted = [...parts].sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0));
  const merged: Interval[] = [];
  for (const part of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && part.lo <= last.hi + 1n) {
      if (part.hi > last.hi) last.hi = part.hi;
    } else {
      merged.push({ lo: part.lo, hi: part.hi });
    }
  }
  return merged;
}

/** The hashes in `a` and not in `b` (both normalized); normalized. */
export function subtract(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const result: Interval[] = [];
  let j = 0;
  for (const part of a) {
    let lo = part.lo;
    while (j < b.length && b[j].hi < lo) j++;
    let k = j;
    while (lo <= part.hi && k < b.length && b[k].lo <= part.hi) {
      if (b[k].lo > lo) result.push({ lo, hi: b[k].lo - 1n });
      lo = b[k].hi + 1n;
      k++;
    }
    if (lo <= part.hi) result.push({ lo, hi: part.hi });
  }
  return result;
}

/** The hashes in both `a` and `b` (both normalized); normalized. */
export function intersect(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  return subtract(a, subtract(a, b));
}

/** Intervals as ranges: one that ends at the top and one that starts at zero join into one wrapping range. */
export function toRanges(intervals: readonly Interval[]): KeyRange[] {
  const parts = [...intervals];
  let wrap: KeyRange | undefined;
  if (parts.length > 1 && parts[0].lo === 0n && parts[parts.length - 1].hi === MAX_HASH) {
    const first = parts.shift() as Interval;
    const last = parts.pop() as Interval;
    wrap = { from: hex(last.lo), to: hex(first.hi) };
  }
  const ranges = parts.map((part) => ({ from: hex(part.lo), to: hex(part.hi) }));
  if (wrap !== undefined) ranges.push(wrap);
  return ranges;
}

/** Ranges back to normalized intervals (a wrapping range splits in two). */
export function toIntervals(ranges: readonly KeyRange[]): Interval[] {
  const parts: Interval[] = [];
  for (const range of ranges) {
    const from = BigInt(`0x${range.from}`);
    const to = BigInt(`0x${range.to}`);
    if (from <= to) parts.push({ lo: from, hi: to });
    else parts.push({ lo: from, hi: MAX_HASH }, { lo: 0n, hi: to });
  }
  return normalize(parts);
}

export function keyOf(value: bigint): Key {
  return new Key(Number(value >> 32n), Number(value & 0xffffffffn));
}

function hex(value: bigint): string {
  return keyOf(value).toString();
}

/** True when `hash` lies in one of `intervals`. */
export function containsHash(intervals: readonly Interval[], hash: bigint): boolean {
  for (const interval of intervals) if (interval.lo <= hash && hash <= interval.hi) return true;
  return false;
}

/** The parts of `interval` by their owner among `points` (sorted ring positions): [index into points, part]. */
export function ownersOf(interval: Interval, points: readonly bigint[]): [number, Interval][] {
  const parts: [number, Interval][] = [];
  let lo = interval.lo;
  while (lo <= interval.hi) {
    let i = points.findIndex((p) => p >= lo);
    const wraps = i < 0;
    if (wraps) i = 0;
    const hi = wraps || points[i] > interval.hi ? interval.hi : points[i];
    parts.push([i, { lo, hi }]);
    lo = hi + 1n;
  }
  return parts;
}
