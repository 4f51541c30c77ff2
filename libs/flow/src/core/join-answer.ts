import { encodeFrame, FrameType } from './frame';
import type { Key } from './key';
import type { RoutingTable } from './routing-table';

/**
 * A member's answer to a JOIN (docs/PROTOCOL.md, "Answering a JOIN"): signed INFOs
 * listing the neighbours of its first position, as they were before the
 * joiner arrived, then its other positions, each key once. One INFO when it
 * fits (8 bytes a position: about 2.1 KiB at 256 virtual nodes), else several.
 *
 * A joiner sends a JOIN per position and every member answers each, so the
 * answer is built once and sent again while the neighbours and the number of
 * positions per INFO stay: a clique of 10 brokers of 256 positions answers
 * 23,040 JOINs to form (bench/startup.bench.ts).
 */
export class JoinAnswer {
  private last: { readonly around: readonly Key[]; readonly per: number; readonly frames: readonly Uint8Array[] } | undefined;

  constructor(
    /** This broker's positions, distinct. */
    private readonly positions: readonly Key[],
    /** The frame with this broker's announcement after it. */
    private readonly sign: (frame: Uint8Array) => Uint8Array,
  ) {}

  /** The INFOs for `around` (the neighbours of our first position), at most `per` positions each. */
  frames(around: readonly Key[], per: number): readonly Uint8Array[] {
    const last = this.last;
    if (last !== undefined && last.per === per && sameKeys(last.around, around)) return last.frames;
    const listed = withoutRepeats(around, this.positions);
    const frames: Uint8Array[] = [];
    for (let at = 0; at < listed.length; at += per) {
      frames.push(this.sign(encodeFrame({ type: FrameType.Info, id: 0, neighbours: listed.slice(at, at + per) })));
    }
    this.last = { around, per, frames };
    return frames;
  }
}

function sameKeys(a: readonly Key[], b: readonly Key[]): boolean {
  return a.length === b.length && a.every((key, i) => key.equals(b[i]));
}

/** `around` (a few keys) then `own` (distinct), each key once, where it first appears; compared by value, few against many. */
function withoutRepeats(around: readonly Key[], own: readonly Key[]): Key[] {
  const listed: Key[] = [];
  for (const key of around) if (!listed.some((other) => other.equals(key))) listed.push(key);
  const near = listed.slice();
  for (const key of own) if (!near.some((other) => other.equals(key))) listed.push(key);
  return listed;
}

/** Announcers whose last answer is remembered, at most (more than a clique has members). */
const MAX_ANNOUNCERS = 256;

/**
 * The joiner's side: the last answer each Flow member sent, once taken whole
 * (every key it lists on the ring). A member answers each of the joiner's
 * JOINs, one per position, with the same INFO; while no member has left the
 * ring since (RoutingTable.removals), taking it again would change nothing,
 * and it is not looked up key by key again.
 */
export class TakenAnswers {
  private readonly taken = new Map<string, { readonly bytes: Uint8Array; readonly removals: number }>();

  constructor(private readonly table: Pick<RoutingTable, 'removals' | 'isMember'>) {}

  /** True when `data` is the answer `node` (its node key text) sent last, taken whole, and no member left since. */
  repeats(node: string, data: Uint8Array): boolean {
    const last = this.taken.get(node);
    return last !== undefined && last.removals === this.table.removals && sameBytes(last.bytes, data);
  }

  /** `data`, an answer from `node` listing `keys`, was taken: remembered when every key is on the ring. */
  took(node: string, data: Uint8Array, keys: readonly Key[]): void {
    if (!keys.every((key) => this.table.isMember(key))) {
      this.taken.delete(node);
      return;
    }
    if (this.taken.size >= MAX_ANNOUNCERS && !this.taken.has(node)) this.taken.clear();
    this.taken.set(node, { bytes: data.slice(), removals: this.table.removals });
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
