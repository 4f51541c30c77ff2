/**
 * Wire extensions of direct publishing (docs/PROTOCOL.md, "Direct publishing").
 * Every one is a trailer after a Go frame's payload, which Go flow never reads
 * (capabilities.ts), and each is only sent to Flow brokers that asked for it:
 *
 * | where            | trailer (integers unsigned big-endian)                              |
 * |------------------|---------------------------------------------------------------------|
 * | FWD (publisher)  | 'FPUB' u8 flags (PublishFlags), then u64 predecessor id if flag 4,   |
 * |                  | then u64 floor if flag 16                                           |
 * | FWD (member)     | 'FPUB' u8 flags, then key publisher u64 id if flag 32: a relay or a |
 * |                  | moved message names the publish it is                               |
 * | ACK id 0 (owner) | 'FNOT' u32 a, u32 h, a x u64 accepted ids, h x u64 handled ids,      |
 * |                  | then 'FBAT' key u16 v: the owner (v ring positions) takes forward batches |
 * | INFO (view)      | 'FSTR' u16 n, n x (u8 kind 0 = message / 1 = request, u16 len, name) |
 * |                  | then 'FPAR' u16 index u16 count for an answer in parts (view-answer.ts) |
 * | PING (view)      | 'FPAR': the asker takes an answer in parts                           |
 *
 * The view question is an ordinary PING sent to `<clique>.view` (queue group
 * `<clique>`, subscribed by joined Flow brokers only); one member answers with
 * an INFO listing every member it knows and, in the 'FSTR' trailer, the streams
 * it handles.
 */
import { readU32, readU64, U64, writeU32, writeU64 } from './bytes';
import { ProtocolError } from './errors';
import { Allocate, encodeFwd, FRAME_HEADER_SIZE, FwdFrame, fwdSize, MsgPayload } from './frame';
import { MAX_VIRTUAL_NODES } from './capabilities';
// The notice extension bears the batch frame's type: it names where batches go.
import { FBAT } from './forward-batches';
import { Key, KEY_SIZE } from './key';
import { headerBytes } from './pubsub';

export const PublishFlags = {
  /** The publisher wants an 'FNOT' accepted notice, then a handled one. */
  Notices: 1,
  /** Fire and forget (or a request, whose reply is the answer): no ACK at all. */
  NoAck: 2,
  /**
   * A u64 follows the flags: the id of the publisher's previous unsettled
   * message of the same partition lane, which the owner must have queued (or
   * refused) before this one runs (lane-order.ts). Absent when none is unsettled.
   */
  Follows: 4,
  /**
   * With NoAck: the publisher still wants one "accepted" notice naming this
   * id, for its 'FBAT' extension (forward-batches.ts): how a publisher that
   * wants no notices learns whether the owner takes forward batches.
   */
  AskBatches: 8,
  /**
   * A u64 follows (after the predecessor, if any): the publisher's floor, the
   * lowest id it has unsettled. It never sends an id below it again, so the
   * owner's duplicate window may forget them (duplicate-window.ts). Set on
   * every acknowledged publish, never on a member's forward.
   */
  Floor: 16,
  /**
   * A key and a u64 follow (after the floor, if any): the publish this FWD
   * is, its publisher's node key and id. A member that relays a publish (its
   * view differs) or moves one it had queued (a handoff, a reconnect) sends it
   * under its own id, and names the publish: the owner's duplicate window and
   * refusals know it by them, so that the publisher's own copy and the
   * member's are one publish (runs once, answered alike). Never on a
   * publisher's own FWD, and never with Follows or Floor (publish-origin.ts).
   */
  Origin: 32,
} as const;

export type StreamKind = 'message' | 'request';

export const FPUB = 0x46505542;
const FNOT = 0x464e4f54;
const FSTR = 0x46535452;
/** Names listed in one view answer, at most. */
export const MAX_VIEW_STREAMS = 1024;

/** The subject joined Flow brokers answer view questions on. */
export function viewSubject(clique: string): string {
  return `${clique}.view`;
}

/** Offset right after the frame's declared payload (the frame was decoded already). */
export function trailerAt(data: Uint8Array): number {
  return FRAME_HEADER_SIZE + readU32(data, 8);
}

/** A new array: `frame` followed by a trailer of `size` bytes, written by `write(out, at)`. */
export function withTrailer(frame: Uint8Array, size: number, write: (out: Uint8Array, at: number) => void): Uint8Array {
  const out = new Uint8Array(frame.length + size);
  out.set(frame, 0);
  write(out, frame.length);
  return out;
}

/**
 * A publisher's FWD with its flags and, when given, its predecessor `after`
 * (flag Follows) and its `floor` (flag Floor), in one allocation.
 */
export function encodePublishFwd(frame: FwdFrame, flags: number, allocate: Allocate, after?: U64, floor?: U64): Uint8Array {
  const out = encodeFwd(frame, allocate, publishTrailerSize(after, floor));
  writePublishTrailer(out, flags, after, floor);
  return out;
}

/** `fwd` (encodePublishFwd's) again, in a new array, with `flags`, `after` and `floor` in place of its trailer. */
export function retrailPublishFwd(fwd: Uint8Array, flags: number, allocate: Allocate, after?: U64, floor?: U64): Uint8Array {
  const body = trailerAt(fwd);
  const out = allocate(body + publishTrailerSize(after, floor));
  out.set(fwd.subarray(0, body), 0);
  writePublishTrailer(out, flags, after, floor);
  return out;
}

/** Trailer bytes of a FWD with publish flags: 'FPUB' and the flags. */
export const NOTICES_TRAILER = 5;
/**
 * Trailer bytes of the largest FWD: a publish FWD that also names its
 * predecessor and its floor (8 bytes each), or a member's that names its
 * publish (flag Origin, publish-origin.ts: a key and an id, as many).
 */
export const LARGEST_TRAILER = NOTICES_TRAILER + 16;

/**
 * The bytes `msg` takes on the transport as a FWD with `trailer` bytes after it
 * (by default the largest frame it may travel in between brokers), NATS headers
 * included, when they exceed `limit`; undefined when it fits or there is no limit.
 */
export function bytesAbove(limit: number | undefined, msg: MsgPayload, trailer = LARGEST_TRAILER): number | undefined {
  if (limit === undefined) return undefined;
  // UTF-8 takes at most 3 bytes per UTF-16 unit: most messages are clear of the limit without counting.
  const bound = msg.data.length + msg.partitionKey.length + 3 * (msg.stream.length + msg.reply.length) + FWD_OVERHEAD + trailer;
  if (bound <= limit && msg.headers === undefined) return undefined;
  const bytes = fwdSize(msg, trailer) + headerBytes(msg.headers);
  return bytes > limit ? bytes : undefined;
}

/** A FWD's bytes besides its stream, reply, partition key, data and trailer. */
const FWD_OVERHEAD = fwdSize({ id: 0, reply: '', stream: '', partitionKey: new Uint8Array(0), data: new Uint8Array(0) });

function publishTrailerSize(after: U64 | undefined, floor: U64 | undefined): number {
  return NOTICES_TRAILER + (after === undefined ? 0 : 8) + (floor === undefined ? 0 : 8);
}

/** Writes the 'FPUB' trailer at the end of `out`, sized by publishTrailerSize(after, floor); the flags say what is there. */
function writePublishTrailer(out: Uint8Array, flags: number, after: U64 | undefined, floor: U64 | undefined): void {
  let at = out.length - publishTrailerSize(after, floor);
  writeU32(out, at, FPUB);
  flags &= ~(PublishFlags.Follows | PublishFlags.Floor);
  if (after !== undefined) flags |= PublishFlags.Follows;
  if (floor !== undefined) flags |= PublishFlags.Floor;
  out[at + 4] = flags;
  at += 5;
  if (after !== undefined) (writeU64(out, at, after), (at += 8));
  if (floor !== undefined) writeU64(out, at, floor);
}

/** The flags of a publisher's FWD; undefined for a FWD without them (a Go broker's, or a member's forward). */
export function readPublishFlags(data: Uint8Array): number | undefined {
  const at = trailerAt(data);
  if (data.length - at < 5 || readU32(data, at) !== FPUB) return undefined;
  return data[at + 4];
}

/** The predecessor id of a FWD whose flags have Follows; throws ProtocolError when it is missing. */
export function readPredecessor(data: Uint8Array): U64 {
  const at = trailerAt(data);
  if (data.length - at < 13) throw new ProtocolError('publish flags', 'flag Follows without the predecessor id');
  return readU64(data, at + 5);
}

/** The floor of a FWD whose `flags` (its own) have Floor; throws ProtocolError when it is missing. */
export function readFloor(data: Uint8Array, flags: number): U64 {
  const at = trailerAt(data) + 5 + ((flags & PublishFlags.Follows) !== 0 ? 8 : 0);
  if (data.length - at < 8) throw new ProtocolError('publish flags', 'flag Floor without the floor id');
  return readU64(data, at);
}

/** Where an owner takes forward batches (forward-batches.ts): its node key, and how many ring positions it has. */
export interface BatchTarget {
  readonly node: Key;
  readonly virtualNodes: number;
}

const BATCH_TARGET_SIZE = 4 + KEY_SIZE + 2;

/** Bytes of one id in a notice. */
export const NOTICE_ID_BYTES = 8;

/** Bytes of a notice on an empty ACK (id 0) with `ids` ids and the batch target, as the acceptor sends them. */
export function noticeBytes(ids: number): number {
  return FRAME_HEADER_SIZE + 8 + 12 + NOTICE_ID_BYTES * ids + BATCH_TARGET_SIZE;
}

/** `batchTo`: this owner, when it takes forward batches on its node subject. */
export function appendNotice(ack: Uint8Array, accepted: readonly U64[], handled: readonly U64[], batchTo?: BatchTarget): Uint8Array {
  const ids = NOTICE_ID_BYTES * (accepted.length + handled.length);
  return withTrailer(ack, 12 + ids + (batchTo === undefined ? 0 : BATCH_TARGET_SIZE), (out, at) => {
    writeU32(out, at, FNOT);
    writeU32(out, at + 4, accepted.length);
    writeU32(out, at + 8, handled.length);
    let p = at + 12;
    for (const id of accepted) (writeU64(out, p, id), (p += 8));
    for (const id of handled) (writeU64(out, p, id), (p += 8));
    if (batchTo !== undefined) writeBatchTarget(out, p, batchTo);
  });
}

function writeBatchTarget(out: Uint8Array, p: number, target: BatchTarget): void {
  writeU32(out, p, FBAT);
  target.node.write(out, p + 4);
  out[p + 12] = target.virtualNodes >>> 8;
  out[p + 13] = target.virtualNodes & 0xff;
}

/**
 * An owner's ERR refusing a publish or a member's forward, naming the owner
 * after the frame (the 'FBAT' extension, as its notices do): a copy refused by
 * a broker the publish has since left, sent on to another owner under the same
 * id, is told from a refusal by the owner it is at now. Readers that know no
 * extension see a plain ERR.
 */
export function appendRefuser(err: Uint8Array, refuser: BatchTarget): Uint8Array {
  return withTrailer(err, BATCH_TARGET_SIZE, (out, at) => writeBatchTarget(out, at, refuser));
}

/** The owner an ERR names (appendRefuser); undefined for one that names none (Go, older Flow). Throws ProtocolError when malformed. */
export function readRefuser(data: Uint8Array): BatchTarget | undefined {
  return readBatchTarget(data, trailerAt(data));
}

export interface Notice {
  readonly accepted: U64[];
  readonly handled: U64[];
  /** The owner that sent it, when it takes forward batches. */
  readonly batchTo: BatchTarget | undefined;
}

/** The notice after an ACK; undefined for a plain ACK. Throws ProtocolError when malformed. */
export function readNotice(data: Uint8Array): Notice | undefined {
  const at = trailerAt(data);
  if (data.length - at < 4 || readU32(data, at) !== FNOT) return undefined;
  if (data.length - at < 12) throw new ProtocolError('notice', 'truncated before its counts');
  const a = readU32(data, at + 4);
  const h = readU32(data, at + 8);
  if ((a + h) * 8 > data.length - at - 12) throw new ProtocolError('notice', `${a} + ${h} ids exceed the bytes present`);
  const accepted: U64[] = [];
  const handled: U64[] = [];
  let p = at + 12;
  for (let i = 0; i < a; i++, p += 8) accepted.push(readU64(data, p));
  for (let i = 0; i < h; i++, p += 8) handled.push(readU64(data, p));
  return { accepted, handled, batchTo: readBatchTarget(data, p) };
}

/** The 'FBAT' extension at `p`; bytes that are not one are ignored, as older owners' are. */
function readBatchTarget(data: Uint8Array, p: number): BatchTarget | undefined {
  if (data.length - p < 4 || readU32(data, p) !== FBAT) return undefined;
  if (data.length - p < BATCH_TARGET_SIZE) throw new ProtocolError('notice', 'batch extension truncated');
  const virtualNodes = (data[p + 12] << 8) | data[p + 13];
  if (virtualNodes < 1 || virtualNodes > MAX_VIRTUAL_NODES) throw new ProtocolError('notice', `batch extension with ${virtualNodes} virtual nodes`);
  return { node: Key.read(data, p + 4), virtualNodes };
}

const utf8 = new TextEncoder();
const text = new TextDecoder();

export function appendStreams(info: Uint8Array, streams: ReadonlyMap<string, StreamKind>): Uint8Array {
  const names = [...streams].slice(0, MAX_VIEW_STREAMS).map(([name, kind]) => [utf8.encode(name), kind] as const);
  const size = 6 + names.reduce((sum, [name]) => sum + 3 + Math.min(name.length, 0xffff), 0);
  return withTrailer(info, size, (out, at) => {
    writeU32(out, at, FSTR);
    out[at + 4] = names.length >> 8;
    out[at + 5] = names.length & 0xff;
    let p = at + 6;
    for (const [name, kind] of names) {
      const bytes = name.subarray(0, 0xffff);
      out[p] = kind === 'request' ? 1 : 0;
      out[p + 1] = bytes.length >> 8;
      out[p + 2] = bytes.length & 0xff;
      out.set(bytes, p + 3);
      p += 3 + bytes.length;
    }
  });
}

/** The streams after a view answer; undefined without the trailer. Throws ProtocolError when malformed. */
export function readStreams(data: Uint8Array): Map<string, StreamKind> | undefined {
  return readStreamsAt(data)?.streams;
}

/** readStreams, and the offset right after the 'FSTR' trailer (where a view answer part's trailer starts). */
export function readStreamsAt(data: Uint8Array): { streams: Map<string, StreamKind>; end: number } | undefined {
  const at = trailerAt(data);
  if (data.length - at < 4 || readU32(data, at) !== FSTR) return undefined;
  if (data.length - at < 6) throw new ProtocolError('streams', 'truncated before its count');
  const n = (data[at + 4] << 8) | data[at + 5];
  if (n > MAX_VIEW_STREAMS) throw new ProtocolError('streams', `${n} names exceed ${MAX_VIEW_STREAMS}`);
  const streams = new Map<string, StreamKind>();
  let p = at + 6;
  for (let i = 0; i < n; i++) {
    if (data.length - p < 3) throw new ProtocolError('streams', `truncated in name ${i}`);
    const kind = data[p];
    const length = (data[p + 1] << 8) | data[p + 2];
    if (kind > 1 || data.length - p - 3 < length) throw new ProtocolError('streams', `name ${i} is malformed`);
    streams.set(text.decode(data.subarray(p + 3, p + 3 + length)), kind === 1 ? 'request' : 'message');
    p += 3 + length;
  }
  return { streams, end: p };
}
