/**
 * Clique protocol frames (PROTOCOL.md, "Frames"), byte for byte as Go flow
 * writes them, plus ERR, our reply to a request whose handler failed (Go brokers
 * ignore frame types they do not know).
 *
 * All integers are unsigned big-endian; a key is 8 bytes.
 *
 * | offset | size | field                                                  |
 * |--------|------|--------------------------------------------------------|
 * | 0      | 4    | version, written as 1, never checked                   |
 * | 4      | 4    | type: four ASCII bytes ('JOIN', 'MSG ', ...)           |
 * | 8      | 4    | payload length P; bytes after 12 + P are ignored       |
 * | 12     | P    | payload, by type:                                      |
 *
 * | type   | payload                                                             |
 * |--------|---------------------------------------------------------------------|
 * | JOIN   | key sender                                   (exactly 8 bytes)      |
 * | LEAV   | key node                                     (exactly 8 bytes)      |
 * | INFO   | u64 id, then n keys (neighbours)             (8 + 8n bytes)         |
 * | PING   | u64 id, key sender                           (exactly 16 bytes)     |
 * | MSG    | msg                                                                 |
 * | FWD    | u64 id, key ackTo, msg                                              |
 * | ACK    | u64 id, reply data (the rest, may be empty)                         |
 * | ERR    | u64 id, u32 codeLen, code, u32 messageLen, message, details (rest)  |
 *
 * msg = u64 id | u32 replyLen | reply | u32 streamLen | stream | u32 pkeyLen | pkey | data (rest).
 * `reply` is the requester's node subject for a request, empty for a plain message.
 * ERR `details` is JSON text or empty; ERR replaces ACK as the answer to a failed request.
 *
 * Ids are u64 on the wire and U64 here (bytes.ts): a number below 2^53, a bigint
 * from there to 2^64 - 1. Go brokers may use the whole range; every id decoded
 * re-encodes to the same 8 bytes.
 *
 * The header and the checks payloads are held to are in frame-layout.ts, the
 * msg that MSG and FWD carry in frame-msg.ts; their public names are exported here too.
 */
import { NO_BYTES, readU32, readU64, readUtf8, U64, utf8Length, writeTextField, writeU64, writeUtf8 } from './bytes';
import type { DecodeCache } from './decode-cache';
import { ProtocolError } from './errors';
import {
  Allocate,
  checkId,
  checkSize,
  field,
  FRAME_HEADER_SIZE as HEADER_SIZE,
  FRAME_VERSION as VERSION,
  header,
  malformed,
  newBytes as freshBytes,
} from './frame-layout';
import { decodeMsg, encodeMsg, MsgPayload, msgPayloadLength } from './frame-msg';
import { Key, KEY_SIZE } from './key';

export type { Allocate } from './frame-layout';
export type { MsgPayload } from './frame-msg';

// Copied, not re-exported with `export { ... } from`: tsc compiles a value re-export
// to a getter, which leaves this module's exports in dictionary mode and makes every
// importer's loads of encodeFrame, decodeFrame and FrameType slower.
export const FRAME_VERSION = VERSION;
export const FRAME_HEADER_SIZE = HEADER_SIZE;
export const newBytes: Allocate = freshBytes;

export const FrameType = {
  Join: 'JOIN',
  Leave: 'LEAV',
  Info: 'INFO',
  Ping: 'PING',
  Msg: 'MSG ',
  Fwd: 'FWD ',
  Ack: 'ACK ',
  Err: 'ERR ',
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

// The type field read as a big-endian u32: the four ASCII bytes of the name.
const JOIN = 0x4a4f494e;
const LEAV = 0x4c454156;
const INFO = 0x494e464f;
const PING = 0x50494e47;
const MSG = 0x4d534720;
const FWD = 0x46574420;
const ACK = 0x41434b20;
const ERR = 0x45525220;

export interface JoinFrame { type: 'JOIN'; sender: Key }
export interface LeaveFrame { type: 'LEAV'; node: Key }
export interface InfoFrame { type: 'INFO'; id: U64; neighbours: Key[] }
export interface PingFrame { type: 'PING'; id: U64; sender: Key }
export interface MsgFrame { type: 'MSG '; msg: MsgPayload }
export interface FwdFrame { type: 'FWD '; id: U64; ackTo: Key; msg: MsgPayload }
export interface AckFrame { type: 'ACK '; id: U64; data: Uint8Array }
export interface ErrFrame { type: 'ERR '; id: U64; code: string; message: string; details: string }

export type Frame = JoinFrame | LeaveFrame | InfoFrame | PingFrame | MsgFrame | FwdFrame | AckFrame | ErrFrame;

/**
 * Encodes `frame` into one array of exactly the frame's size, owned by the caller.
 * Throws ProtocolError when an id is not a u64 (isU64).
 */
export function encodeFrame(frame: Frame, allocate: Allocate = newBytes): Uint8Array {
  switch (frame.type) {
    case 'JOIN':
      return keyFrame(JOIN, frame.sender, allocate);
    case 'LEAV':
      return keyFrame(LEAV, frame.node, allocate);
    case 'INFO': {
      const n = frame.neighbours.length;
      const out = header(INFO, 8 + n * KEY_SIZE, allocate);
      writeU64(out, 12, checkId(frame.id, frame.type));
      for (let i = 0; i < n; i++) frame.neighbours[i].write(out, 20 + i * KEY_SIZE);
      return out;
    }
    case 'PING': {
      const out = header(PING, 16, allocate);
      writeU64(out, 12, checkId(frame.id, frame.type));
      frame.sender.write(out, 20);
      return out;
    }
    case 'MSG ':
      return encodeMsg(MSG, 0, frame.msg, frame.type, allocate);
    case 'FWD ':
      return encodeFwd(frame, allocate);
    case 'ACK ': {
      const out = header(ACK, 8 + frame.data.length, allocate);
      writeU64(out, 12, checkId(frame.id, frame.type));
      out.set(frame.data, 20);
      return out;
    }
    case 'ERR ':
      return encodeErr(frame, allocate);
    default:
      throw new ProtocolError('frame', `cannot encode unknown type ${JSON.stringify((frame as { type: unknown }).type)}`);
  }
}

/** An ACK with no data: Go flow's acknowledgement of a forward on receipt (id 0: a notice's start, publish-wire.ts). */
export function encodeAck(id: U64, allocate: Allocate = newBytes): Uint8Array {
  return encodeFrame({ type: FrameType.Ack, id, data: NO_BYTES }, allocate);
}

/**
 * Decodes one frame. Throws ProtocolError, and nothing else, for any malformed
 * input; its `frameType` is the type's name without padding ('MSG'), or 'frame'
 * when the header itself is unusable.
 *
 * The Uint8Array fields of the result (ACK data, msg partitionKey and data) are
 * views into `bytes`, not copies: they change if `bytes` is modified, and they keep
 * the whole input alive while referenced. Copy them to keep them past that.
 * `cache`: the decoding broker's (decode-cache.ts); with it, a msg's stream
 * name and a FWD's sender are the same objects as last time when their bytes
 * are the same.
 */
export function decodeFrame(bytes: Uint8Array, cache?: DecodeCache): Frame {
  if (!(bytes instanceof Uint8Array)) {
    throw new ProtocolError('frame', `expected a Uint8Array, received ${bytes === null ? 'null' : typeof bytes}`);
  }
  if (bytes.length < FRAME_HEADER_SIZE) {
    throw new ProtocolError('frame', `${bytes.length} bytes is shorter than the ${FRAME_HEADER_SIZE}-byte header`);
  }
  const code = readU32(bytes, 4);
  const type = typeName(code);
  if (type === undefined) throw new ProtocolError('frame', `unknown type ${describeType(bytes)}`);
  const payloadLength = readU32(bytes, 8);
  if (payloadLength > bytes.length - FRAME_HEADER_SIZE) {
    throw malformed(type, `payload length ${payloadLength} exceeds the ${bytes.length - FRAME_HEADER_SIZE} bytes present`);
  }
  const start = FRAME_HEADER_SIZE;
  const end = start + payloadLength;

  switch (code) {
    case JOIN:
      checkSize(type, payloadLength, KEY_SIZE, true);
      return { type: FrameType.Join, sender: Key.read(bytes, start) };
    case LEAV:
      checkSize(type, payloadLength, KEY_SIZE, true);
      return { type: FrameType.Leave, node: Key.read(bytes, start) };
    case INFO: {
      checkSize(type, payloadLength, 8);
      if ((payloadLength - 8) % KEY_SIZE !== 0) {
        throw malformed(type, `neighbour bytes ${payloadLength - 8} are not a multiple of ${KEY_SIZE}`);
      }
      const neighbours: Key[] = [];
      for (let at = start + 8; at < end; at += KEY_SIZE) neighbours.push(Key.read(bytes, at));
      return { type: FrameType.Info, id: readU64(bytes, start), neighbours };
    }
    case PING:
      checkSize(type, payloadLength, 16, true);
      return { type: FrameType.Ping, id: readU64(bytes, start), sender: Key.read(bytes, start + 8) };
    case MSG:
      return { type: FrameType.Msg, msg: decodeMsg(bytes, start, end, type, cache) };
    case FWD:
      checkSize(type, payloadLength, 16);
      return {
        type: FrameType.Fwd,
        id: readU64(bytes, start),
        ackTo: readAckTo(bytes, start + 8, cache),
        msg: decodeMsg(bytes, start + 16, end, type, cache),
      };
    case ACK:
      checkSize(type, payloadLength, 8);
      return { type: FrameType.Ack, id: readU64(bytes, start), data: bytes.subarray(start + 8, end) };
    default: // ERR, the only type left
      return decodeErr(bytes, start, end, type);
  }
}

function typeName(code: number): FrameType | undefined {
  switch (code) {
    case JOIN: return FrameType.Join;
    case LEAV: return FrameType.Leave;
    case INFO: return FrameType.Info;
    case PING: return FrameType.Ping;
    case MSG: return FrameType.Msg;
    case FWD: return FrameType.Fwd;
    case ACK: return FrameType.Ack;
    case ERR: return FrameType.Err;
    default: return undefined;
  }
}

function keyFrame(code: number, key: Key, allocate: Allocate): Uint8Array {
  const out = header(code, KEY_SIZE, allocate);
  key.write(out, FRAME_HEADER_SIZE);
  return out;
}

/**
 * A FWD frame followed by `trailer` bytes, zeroed, that the caller writes (a
 * trailer Go flow never reads: publish-wire.ts), in one allocation.
 */
export function encodeFwd(frame: FwdFrame, allocate: Allocate = newBytes, trailer = 0): Uint8Array {
  const id = checkId(frame.id, frame.type);
  const out = encodeMsg(FWD, FWD_PREFIX, frame.msg, frame.type, allocate, trailer);
  writeU64(out, 12, id);
  frame.ackTo.write(out, 20);
  return out;
}

/** A FWD's payload before its msg: the FWD id and ackTo. */
const FWD_PREFIX = 16;

/** Bytes of the FWD that encodeFwd makes of `msg`, with `trailer` bytes after it. */
export function fwdSize(msg: MsgPayload, trailer = 0): number {
  return FRAME_HEADER_SIZE + msgPayloadLength(FWD_PREFIX, msg, utf8Length(msg.reply), utf8Length(msg.stream)) + trailer;
}

function encodeErr(frame: ErrFrame, allocate: Allocate): Uint8Array {
  const id = checkId(frame.id, frame.type);
  const codeLength = utf8Length(frame.code);
  const messageLength = utf8Length(frame.message);
  const detailsLength = utf8Length(frame.details);
  const out = header(ERR, 16 + codeLength + messageLength + detailsLength, allocate);
  writeU64(out, 12, id);
  const at = writeTextField(out, 20, frame.code, codeLength);
  writeUtf8(frame.details, out, writeTextField(out, at, frame.message, messageLength), detailsLength);
  return out;
}

function readAckTo(bytes: Uint8Array, at: number, cache: DecodeCache | undefined): Key {
  const hi = readU32(bytes, at);
  const lo = readU32(bytes, at + 4);
  return cache === undefined ? new Key(hi, lo) : cache.sender(hi, lo);
}

function decodeErr(bytes: Uint8Array, start: number, end: number, type: FrameType): ErrFrame {
  checkSize(type, end - start, 16);
  const codeEnd = field(bytes, start + 8, end, type, 'code');
  const messageEnd = field(bytes, codeEnd, end, type, 'message');
  return {
    type: FrameType.Err,
    id: readU64(bytes, start),
    code: readUtf8(bytes, start + 12, codeEnd),
    message: readUtf8(bytes, codeEnd + 4, messageEnd),
    details: readUtf8(bytes, messageEnd, end),
  };
}

/** The type field for error messages: printable ASCII as text, anything else in hex. */
function describeType(bytes: Uint8Array): string {
  if (bytes.length < FRAME_HEADER_SIZE) return `a ${bytes.length}-byte buffer`;
  const code = readU32(bytes, 4);
  let text = '';
  for (let i = 4; i < 8; i++) {
    if (bytes[i] < 0x20 || bytes[i] > 0x7e) return `0x${code.toString(16).padStart(8, '0')}`;
    text += String.fromCharCode(bytes[i]);
  }
  return JSON.stringify(text);
}
