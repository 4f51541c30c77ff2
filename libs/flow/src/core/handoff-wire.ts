/**
 * Wire of the handoff between Flow brokers (docs/PROTOCOL.md, "Handoff").
 * Both messages ride as trailers after an ACK frame with id 0 (Go flow's
 * frame, which Go never reads past its payload), sent only to members that
 * announced Capability.Handoff, on the node subject of the receiver.
 *
 * | message | trailer (integers unsigned big-endian)                                          |
 * |---------|---------------------------------------------------------------------------------|
 * | query   | 'FHQY' u32 token, u64 asker node key, u16 n, n x (u64 lo, u64 hi)               |
 * | answer  | 'FHAN' u32 token, u8 flags, u16 n, n x (u64 lo, u64 hi), u32 m, m x u32 lane,    |
 * |         | then optionally u16 r, r x (u64 node, u16 k, k x (u64 lo, u64 hi)): redirects     |
 * | farewell| 'FHBY' u64 sender node key, u16 r, r x (u64 node, u16 k, k x (u64 lo, u64 hi))    |
 *
 * A query asks the previous owner of some hash intervals (inclusive, not
 * wrapping) what it still runs there. The answer echoes the intervals the
 * answerer no longer owns and lists its partition lanes with work queued or
 * running (lane = (hash.hi ^ hash.lo) & 0x3fffffff, as the scheduler's);
 * AllLanes in `flags` stands for every lane (too many to list). Intervals it
 * still owns are left out: the asker keeps waiting for them. The answerer
 * sends the answer again, with the same token, whenever a listed lane drains.
 * A redirect names an earlier owner the answerer itself still waits for in
 * some of the intervals (a key that moved on before it drained): the asker
 * asks that node too.
 *
 * A farewell (handoff-farewell.ts) is sent by a broker that closes with no
 * lane busy, before its node subject goes: it runs nothing in any interval
 * any more, so whoever waits for it stops; its redirects as in an answer.
 */
import { readU32, readU64, writeU32, writeU64 } from './bytes';
import { ProtocolError } from './errors';
import { encodeFrame, FRAME_HEADER_SIZE, FrameType } from './frame';
import { Key } from './key';
import type { Interval } from './key-ranges';

const FHQY = 0x46485159;
const FHAN = 0x4648414e;
const FHBY = 0x46484259;
/** Intervals in one message, at most (a broker owns at most 2 per position). */
export const MAX_HANDOFF_INTERVALS = 8192;
/** Lanes listed in one answer, at most; beyond, the answer says AllLanes. */
export const MAX_ANSWER_LANES = 65_536;

export const AnswerFlags = { AllLanes: 1 } as const;

export interface HandoffQuery {
  readonly kind: 'query';
  readonly token: number;
  readonly asker: Key;
  readonly intervals: Interval[];
}

export interface Redirect {
  readonly node: Key;
  readonly intervals: Interval[];
}

export interface HandoffAnswer {
  readonly kind: 'answer';
  readonly token: number;
  readonly released: Interval[];
  /** Draining lanes; undefined: all of them. */
  readonly lanes: number[] | undefined;
  /** Earlier owners to ask as well. */
  readonly redirects: Redirect[];
}

export interface HandoffFarewell {
  readonly kind: 'farewell';
  /** The node that closed. */
  readonly node: Key;
  readonly redirects: Redirect[];
}

/** Redirects in one answer, at most. */
export const MAX_REDIRECTS = 64;

const EMPTY_ACK = encodeFrame({ type: FrameType.Ack, id: 0, data: new Uint8Array(0) });

export function encodeQuery(token: number, asker: Key, intervals: readonly Interval[]): Uint8Array {
  const out = new Uint8Array(EMPTY_ACK.length + 18 + 16 * intervals.length);
  out.set(EMPTY_ACK, 0);
  let p = EMPTY_ACK.length;
  writeU32(out, p, FHQY);
  writeU32(out, p + 4, token);
  asker.write(out, p + 8);
  p = writeIntervals(out, p + 16, intervals);
  return out;
}

export function encodeAnswer(
  token: number,
  released: readonly Interval[],
  lanes: Iterable<number> | undefined,
  redirects: readonly Redirect[] = [],
): Uint8Array {
  const listed = lanes === undefined ? [] : [...lanes];
  const all = lanes === undefined || listed.length > MAX_ANSWER_LANES;
  const count = all ? 0 : listed.length;
  const sent = redirects.slice(0, MAX_REDIRECTS);
  const out = new Uint8Array(answerSize(released.length, count, sent));
  out.set(EMPTY_ACK, 0);
  let p = EMPTY_ACK.length;
  writeU32(out, p, FHAN);
  writeU32(out, p + 4, token);
  out[p + 8] = all ? AnswerFlags.AllLanes : 0;
  p = writeIntervals(out, p + 9, released);
  writeU32(out, p, count);
  p += 4;
  for (let i = 0; i < count; i++, p += 4) writeU32(out, p, listed[i]);
  if (sent.length > 0) writeRedirects(out, p, sent);
  return out;
}

/** Bytes of an answer with `released` intervals, `lanes` listed and `redirects` (at most MAX_REDIRECTS of them are sent). */
export function answerSize(released: number, lanes: number, redirects: readonly Redirect[]): number {
  const sent = redirects.length > MAX_REDIRECTS ? redirects.slice(0, MAX_REDIRECTS) : redirects;
  return EMPTY_ACK.length + 9 + 2 + 16 * released + 4 + 4 * lanes + (sent.length === 0 ? 0 : redirectsSize(sent));
}

export function encodeFarewell(node: Key, redirects: readonly Redirect[]): Uint8Array {
  const sent = redirects.slice(0, MAX_REDIRECTS);
  const out = new Uint8Array(EMPTY_ACK.length + 12 + redirectsSize(sent));
  out.set(EMPTY_ACK, 0);
  writeU32(out, EMPTY_ACK.length, FHBY);
  node.write(out, EMPTY_ACK.length + 4);
  writeRedirects(out, EMPTY_ACK.length + 12, sent);
  return out;
}

/** The handoff message after an ACK; undefined for any other ACK. Throws ProtocolError when malformed. */
export function readHandoff(data: Uint8Array): HandoffQuery | HandoffAnswer | HandoffFarewell | undefined {
  const at = FRAME_HEADER_SIZE + readU32(data, 8);
  if (data.length - at < 4) return undefined;
  const magic = readU32(data, at);
  if (magic === FHQY) {
    need(data, at, 18, 'query');
    const token = readU32(data, at + 4);
    const asker = Key.read(data, at + 8);
    return { kind: 'query', token, asker, intervals: readIntervals(data, at + 16, 'query').intervals };
  }
  if (magic === FHBY) {
    need(data, at, 14, 'farewell');
    return { kind: 'farewell', node: Key.read(data, at + 4), redirects: readRedirects(data, at + 12, 'farewell').redirects };
  }
  if (magic !== FHAN) return undefined;
  need(data, at, 11, 'answer');
  const token = readU32(data, at + 4);
  const all = (data[at + 8] & AnswerFlags.AllLanes) !== 0;
  const { intervals: released, end } = readIntervals(data, at + 9, 'answer');
  need(data, end, 4, 'answer');
  const m = readU32(data, end);
  if (m > MAX_ANSWER_LANES || m * 4 > data.length - end - 4) throw new ProtocolError('handoff answer', `${m} lanes exceed the bytes present`);
  const lanes: number[] = [];
  let p = end + 4;
  for (let i = 0; i < m; i++, p += 4) lanes.push(readU32(data, p) & 0x3fffffff);
  const redirects = data.length - p >= 2 ? readRedirects(data, p, 'answer').redirects : [];
  return { kind: 'answer', token, released, lanes: all ? undefined : lanes, redirects };
}

function redirectsSize(redirects: readonly Redirect[]): number {
  return 2 + redirects.reduce((sum, r) => sum + 10 + 16 * r.intervals.length, 0);
}

function writeRedirects(out: Uint8Array, at: number, redirects: readonly Redirect[]): void {
  out[at] = redirects.length >> 8;
  out[at + 1] = redirects.length & 0xff;
  let p = at + 2;
  for (const redirect of redirects) {
    redirect.node.write(out, p);
    p = writeIntervals(out, p + 8, redirect.intervals);
  }
}

function readRedirects(data: Uint8Array, at: number, what: string): { redirects: Redirect[]; end: number } {
  need(data, at, 2, what);
  const r = (data[at] << 8) | data[at + 1];
  if (r > MAX_REDIRECTS) throw new ProtocolError(`handoff ${what}`, `${r} redirects exceed ${MAX_REDIRECTS}`);
  const redirects: Redirect[] = [];
  let p = at + 2;
  for (let i = 0; i < r; i++) {
    need(data, p, 10, what);
    const node = Key.read(data, p);
    const read = readIntervals(data, p + 8, what);
    redirects.push({ node, intervals: read.intervals });
    p = read.end;
  }
  return { redirects, end: p };
}

function writeIntervals(out: Uint8Array, at: number, intervals: readonly Interval[]): number {
  out[at] = intervals.length >> 8;
  out[at + 1] = intervals.length & 0xff;
  let p = at + 2;
  for (const interval of intervals) {
    writeU64(out, p, interval.lo);
    writeU64(out, p + 8, interval.hi);
    p += 16;
  }
  return p;
}

function readIntervals(data: Uint8Array, at: number, what: string): { intervals: Interval[]; end: number } {
  need(data, at, 2, what);
  const n = (data[at] << 8) | data[at + 1];
  if (n > MAX_HANDOFF_INTERVALS || n * 16 > data.length - at - 2) throw new ProtocolError(`handoff ${what}`, `${n} intervals exceed the bytes present`);
  const intervals: Interval[] = [];
  for (let i = 0, p = at + 2; i < n; i++, p += 16) {
    const lo = BigInt(readU64(data, p));
    const hi = BigInt(readU64(data, p + 8));
    if (lo > hi) throw new ProtocolError(`handoff ${what}`, `interval ${i} is inverted`);
    intervals.push({ lo, hi });
  }
  return { intervals, end: at + 2 + 16 * n };
}

function need(data: Uint8Array, at: number, size: number, what: string): void {
  if (data.length - at < size) throw new ProtocolError(`handoff ${what}`, 'truncated');
}
