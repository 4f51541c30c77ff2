import { lowerBound } from './binary-search';
import type { Key } from './key';
import { KeyIndex } from './key-index';

/**
 * The consistent-hashing ring: a sorted set of distinct member keys.
 *
 * The owner of a partition `p` is the first member `k` with `p <= k`, or the
 * smallest member when there is none (wrap around); a member therefore owns
 * `(predecessor, itself]` (PROTOCOL.md, "Ring ownership"). Lookups search
 * a typed-array copy of the keys through a bucket table (KeyIndex: most
 * compare with one key or none), made by the first lookup after a change;
 * add and remove are a binary search plus an array splice, which is cheap
 * for rings of thousands of members. Between changes, lookups allocate
 * nothing.
 */
/** Above this many keys, addAll sorts once instead of splicing each. */
const BULK_THRESHOLD = 32;

export class Ring {
  #keys: Key[] = [];
  /** The search layout of #keys; undefined after a change until the next lookup rebuilds it. */
  #index: KeyIndex | undefined;
  #removals = 0;

  get size(): number {
    return this.#keys.length;
  }

  /** Adds `key`; false when it is already a member. */
  add(key: Key): boolean {
    // Searched in the array itself: one add after another would rebuild the index each time.
    const i = lowerBound(this.#keys, key);
    if (i < this.#keys.length && this.#keys[i].equals(key)) return false;
    this.#keys.splice(i, 0, key);
    this.#index = undefined;
    return true;
  }

  /**
   * Adds every key not yet a member and returns those, in input order. Many
   * at once (a JOIN answer lists hundreds) are merged in one sort instead of
   * one splice each, which would be quadratic.
   */
  addAll(keys: readonly Key[]): Key[] {
    if (keys.length <= BULK_THRESHOLD) return keys.filter((key) => this.add(key));
    // Members first: most of what an INFO lists is known, and only the rest needs its text for duplicates.
    const fresh = keys.filter((key) => !this.has(key));
    if (fresh.length === 0) return fresh;
    const seen = new Set<string>();
    const added = fresh.filter((key) => {
      const text = key.toString();
      if (seen.has(text)) return false;
      seen.add(text);
      return true;
    });
    if (added.length > 0) {
      this.#keys = [...this.#keys, ...added].sort((a, b) => a.compare(b));
      this.#index = undefined;
    }
    return added;
  }

  /** Removes `key`; false when it was not a member. */
  remove(key: Key): boolean {
    const i = lowerBound(this.#keys, key);
    if (i === this.#keys.length || !this.#keys[i].equals(key)) return false;
    this.#keys.splice(i, 1);
    this.#index = undefined;
    this.#removals++;
    return true;
  }

  /** Members removed so far: while it stays the same, every key found a member is still one. */
  get removals(): number {
    return this.#removals;
  }

  has(key: Key): boolean {
    return this.indexOf(key) >= 0;
  }

  /** The member owning `partition`; undefined only when the ring is empty. */
  ownerOf(partition: Key): Key | undefined {
    const keys = this.#keys;
    if (keys.length === 0) return undefined;
    const i = this.lowerBound(partition);
    return keys[i === keys.length ? 0 : i];
  }

  /** The position of `key` in ring order, or -1 when it is not a member. */
  indexOf(key: Key): number {
    const i = this.lowerBound(key);
    return i < this.#keys.length && this.#keys[i].equals(key) ? i : -1;
  }

  /**
   * The position of the first member `k` with `key <= k`, wrapping to 0: the
   * index of `key` itself when it is a member, else of its successor; 0 on
   * an empty ring.
   */
  ceilingIndex(key: Key): number {
    const i = this.lowerBound(key);
    return i === this.#keys.length ? 0 : i;
  }

  /**
   * The member at position `i` taken modulo `size` (negative `i` counts back
   * from the end), so that walks around the ring need no bounds checks.
   * Undefined when the ring is empty.
   */
  at(i: number): Key | undefined {
    const n = this.#keys.length;
    if (n === 0) return undefined;
    return this.#keys[((i % n) + n) % n];
  }

  /** Lookups search the typed-array layout, rebuilt after a change (membership changes are rare). */
  private lowerBound(key: Key): number {
    return (this.#index ??= new KeyIndex(this.#keys)).lowerBound(key);
  }

  /** The members in ascending order, as a copy the caller may keep. */
  keys(): readonly Key[] {
    return this.#keys.slice();
  }
}
