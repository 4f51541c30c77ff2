import { encodeFrame, FrameType } from './frame';
import type { Key } from './key';

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
