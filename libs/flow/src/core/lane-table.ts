/**
 * Values by lane (partitionLane: a 30-bit integer), for PartitionScheduler's
 * busy lanes: an open-addressing table that allocates only when it doubles
 * or halves.
 *
 * Why not a Map: V8 rebuilds a Map's hash table whenever its deleted entries
 * fill it, and the table of a Map old enough to live in the old generation is
 * rebuilt there. The scheduler adds and removes a lane for every asynchronous
 * handler, so on a busy broker the Map left about 150 bytes of old-generation
 * garbage per message, memory that only a full collection gives back (the
 * consumers' RSS in bench/nest-flow.bench.ts).
 *
 * Linear probing from a Fibonacci hash; a delete shifts the entries behind the
 * hole back instead of leaving a tombstone, so the table never fills with
 * deleted entries. At most half of the slots are used; the table halves when
 * fewer than an eighth are, down to MIN_SLOTS.
 */
const EMPTY = -1;
const MIN_SLOTS = 64;

export class LaneTable<V> {
  private lanes = new Int32Array(MIN_SLOTS).fill(EMPTY);
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
    return this.lanes.length;
  }

  get(lane: number): V | undefined {
    const at = this.find(lane);
    return at < 0 ? undefined : this.values[at];
  }

  has(lane: number): boolean {
    return this.find(lane) >= 0;
  }

  set(lane: number, value: V): void {
    const at = this.find(lane);
    if (at >= 0) {
      this.values[at] = value;
      return;
    }
    if ((this.count + 1) * 2 > this.lanes.length) this.resize(this.lanes.length * 2);
    this.place(lane, value);
    this.count++;
  }

  delete(lane: number): boolean {
    let hole = this.find(lane);
    if (hole < 0) return false;
    const { lanes, values, mask } = this;
    // Backward shift: an entry behind the hole moves into it unless its home
    // slot lies after the hole (moving it would put it before its home).
    for (let next = (hole + 1) & mask; lanes[next] !== EMPTY; next = (next + 1) & mask) {
      const home = this.home(lanes[next]!);
      if (((next - home) & mask) >= ((next - hole) & mask)) {
        lanes[hole] = lanes[next]!;
        values[hole] = values[next];
        hole = next;
      }
    }
    lanes[hole] = EMPTY;
    values[hole] = undefined;
    this.count--;
    if (this.lanes.length > MIN_SLOTS && this.count * 8 < this.lanes.length) this.resize(this.lanes.length / 2);
    return true;
  }

  /** The lanes, in no particular order: a copy, so the table may change while the caller reads it. */
  keys(): number[] {
    const out: number[] = [];
    for (const lane of this.lanes) if (lane !== EMPTY) out.push(lane);
    return out;
  }

  /** Visits every entry; `visit` may set values of existing lanes, but not add or delete lanes. */
  forEach(visit: (value: V, lane: number) => void): void {
    const { lanes, values } = this;
    for (let at = 0; at < lanes.length; at++) if (lanes[at] !== EMPTY) visit(values[at] as V, lanes[at]!);
  }

  private home(lane: number): number {
    return Math.imul(lane, 0x9e3779b1) >>> this.shift;
  }

  /** The slot holding `lane`, or -1. */
  private find(lane: number): number {
    const { lanes, mask } = this;
    for (let at = this.home(lane); ; at = (at + 1) & mask) {
      const held = lanes[at];
      if (held === lane) return at;
      if (held === EMPTY) return -1;
    }
  }

  /** Puts a lane that is not in the table into its first free slot. */
  private place(lane: number, value: V | undefined): void {
    let at = this.home(lane);
    while (this.lanes[at] !== EMPTY) at = (at + 1) & this.mask;
    this.lanes[at] = lane;
    this.values[at] = value;
  }

  private resize(slots: number): void {
    const { lanes, values } = this;
    this.lanes = new Int32Array(slots).fill(EMPTY);
    this.values = new Array<V | undefined>(slots).fill(undefined);
    this.mask = slots - 1;
    this.shift = 32 - Math.log2(slots);
    for (let at = 0; at < lanes.length; at++) if (lanes[at] !== EMPTY) this.place(lanes[at]!, values[at]);
  }
}
