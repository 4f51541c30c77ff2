import type { U64 } from './bytes';

/**
 * Values by id (a frame id, a partition lane): an open-addressing table for
 * state that gains and loses an entry per message, such as the scheduler's
 * busy lanes and the exchanges awaiting an answer. It allocates only when it
 * doubles or halves.
 *
 * Why not a Map: V8 rebuilds a Map's hash table whenever its deleted entries
 * fill it, and the table of a Map old enough to live in the old generation is
 * rebuilt there. With an entry added and deleted per message, a busy broker's
 * Map left about 150 bytes of old-generation garbage per message, memory that
 * only a full collection gives back (the consumers' RSS in
 * bench/nest-flow.bench.ts, docs/BENCHMARKS.md).
 *
 * Ids compare as a Map's keys do (5 and 5n are two ids; K narrows them to
 * numbers where only numbers are used). Linear probing from a
 * Fibonacci hash; a delete shifts the entries behind the hole back instead of
 * leaving a tombstone, so deleted entries never fill the table. At most half
 * of the slots are used; the table halves when fewer than an eighth are, down
 * to MIN_SLOTS. No order: iteration follows the slots.
 */
const MIN_SLOTS = 64;

export class IdTable<V, K extends U64 = U64> {
  private ids: (K | undefined)[] = new Array<K | undefined>(MIN_SLOTS).fill(undefined);
  private values: (V | undefined)[] = new Array<V | undefined>(MIN_SLOTS).fill(undefined);
  private mask = MIN_SLOTS - 1;
  /** 32 - log2(slots): a Fibonacci hash's top bits index the slots. */
  private shift = 32 - Math.log2(MIN_SLOTS);
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Slots allocated: a power of two, at least 64. */
  get slots(): number {
    return this.ids.length;
  }

  get(id: K): V | undefined {
    const at = this.find(id);
    return at < 0 ? undefined : this.values[at];
  }

  has(id: K): boolean {
    return this.find(id) >= 0;
  }

  set(id: K, value: V): void {
    const at = this.find(id);
    if (at >= 0) {
      this.values[at] = value;
      return;
    }
    if ((this.count + 1) * 2 > this.ids.length) this.resize(this.ids.length * 2);
    this.place(id, value);
    this.count++;
  }

  delete(id: K): boolean {
    let hole = this.find(id);
    if (hole < 0) return false;
    const { ids, values, mask } = this;
    // Backward shift: an entry behind the hole moves into it unless its home
    // slot lies after the hole (moving it would put it before its home).
    for (let next = (hole + 1) & mask; ids[next] !== undefined; next = (next + 1) & mask) {
      const home = this.home(ids[next]!);
      if (((next - home) & mask) >= ((next - hole) & mask)) {
        ids[hole] = ids[next];
        values[hole] = values[next];
        hole = next;
      }
    }
    ids[hole] = undefined;
    values[hole] = undefined;
    this.count--;
    if (this.ids.length > MIN_SLOTS && this.count * 8 < this.ids.length) this.resize(this.ids.length / 2);
    return true;
  }

  /** The ids, in no particular order: a copy, so the table may change while the caller reads it. */
  keys(): K[] {
    const out: K[] = [];
    for (const id of this.ids) if (id !== undefined) out.push(id);
    return out;
  }

  /** Visits every entry; `visit` may set values of existing ids, but not add or delete ids. */
  forEach(visit: (value: V, id: K) => void): void {
    const { ids, values } = this;
    for (let at = 0; at < ids.length; at++) if (ids[at] !== undefined) visit(values[at] as V, ids[at]!);
  }

  private home(id: U64): number {
    // Both halves of a 64-bit id: ToInt32 (`| 0`) keeps a number's low 32 bits.
    const mixed =
      typeof id === 'number'
        ? (id | 0) ^ ((id / 4294967296) | 0)
        : Number(BigInt.asUintN(32, id)) ^ Number(BigInt.asUintN(32, id >> 32n)) ^ 0x5bd1e995;
    return Math.imul(mixed, 0x9e3779b1) >>> this.shift;
  }

  /** The slot holding `id`, or -1. */
  private find(id: K): number {
    const { ids, mask } = this;
    for (let at = this.home(id); ; at = (at + 1) & mask) {
      const held = ids[at];
      if (held === id) return at;
      if (held === undefined) return -1;
    }
  }

  /** Puts an id that is not in the table into its first free slot. */
  private place(id: K, value: V | undefined): void {
    let at = this.home(id);
    while (this.ids[at] !== undefined) at = (at + 1) & this.mask;
    this.ids[at] = id;
    this.values[at] = value;
  }

  private resize(slots: number): void {
    const { ids, values } = this;
    this.ids = new Array<K | undefined>(slots).fill(undefined);
    this.values = new Array<V | undefined>(slots).fill(undefined);
    this.mask = slots - 1;
    this.shift = 32 - Math.log2(slots);
    for (let at = 0; at < ids.length; at++) if (ids[at] !== undefined) this.place(ids[at]!, values[at]);
  }
}
