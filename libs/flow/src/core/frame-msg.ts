/**
 * The msg that MSG and FWD frames carry (frame.ts has the layout): its fields,
 * and how it is written after a frame header and read back. frame.ts
 * re-exports MsgPayload.
 */
import { readU64, readUtf8, U64, utf8Length, view, writeBytesField, writeTextField, writeU64 } from './bytes';
import type { DecodeCache } from './decode-cache';
import type { FlowError } from './errors';
import type { FrameType } from './frame';
import { Allocate, checkId, checkSize, field, FRAME_HEADER_SIZE, header } from './frame-layout';
import type { PublishOrigin } from './publish-origin';
import type { MessageHeaders } from './pubsub';

/** u64 id + three u32 lengths: the smallest msg payload. */
const MSG_MIN = 8 + 4 + 4 + 4;

export interface MsgPayload {
  id: U64;
  /** The requester's node subject for a request; '' for a plain message. */
  reply: string;
  stream: string;
  partitionKey: Uint8Array;
  data: Uint8Array;
  /** Not on the wire: the NATS headers the message arrived with, passed on when forwarding. */
  headers?: MessageHeaders;
  /**
   * Not on the wire: told how a message this broker owns ended (error: refused; none: handled),
   * or, `moved`, that one queued here for its handler goes to another owner instead (a handoff's
   * release, a reconnect: handoff.ts); it settles later as that owner's.
   */
  settle?: (error?: FlowError, moved?: boolean) => void;
  /** Not on the wire: told when the owner a forward went to accepted it, before `settle` (forward notices). */
  accepted?: () => void;
  /**
   * Not on the wire but in a member's FWD (publish-wire.ts, flag Origin): the
   * publish this message is, once a member relays it or moves it on.
   */
  origin?: PublishOrigin;
}

/** Payload bytes of a msg frame with `prefix` bytes before the msg. */
export function msgPayloadLength(prefix: number, msg: MsgPayload, replyLength: number, streamLength: number): number {
  return prefix + MSG_MIN + replyLength + streamLength + msg.partitionKey.length + msg.data.length;
}

/** A msg frame of type `code`, leaving `prefix` payload bytes before the msg and `trailer` after the frame for the caller. */
export function encodeMsg(code: number, prefix: number, msg: MsgPayload, type: FrameType, allocate: Allocate, trailer = 0): Uint8Array {
  const id = checkId(msg.id, type);
  const replyLength = utf8Length(msg.reply);
  const streamLength = utf8Length(msg.stream);
  const out = header(code, msgPayloadLength(prefix, msg, replyLength, streamLength), allocate, trailer);
  writeU64(out, FRAME_HEADER_SIZE + prefix, id);
  let at = writeTextField(out, FRAME_HEADER_SIZE + prefix + 8, msg.reply, replyLength);
  at = writeTextField(out, at, msg.stream, streamLength);
  out.set(msg.data, writeBytesField(out, at, msg.partitionKey));
  return out;
}

/** `cache`: the decoding broker's (decode-cache.ts), which saves a string per message. */
export function decodeMsg(bytes: Uint8Array, start: number, end: number, type: FrameType, cache?: DecodeCache): MsgPayload {
  checkSize(type, end - start, MSG_MIN);
  const replyEnd = field(bytes, start + 8, end, type, 'reply');
  const streamEnd = field(bytes, replyEnd, end, type, 'stream');
  const pkeyEnd = field(bytes, streamEnd, end, type, 'partition key');
  return {
    id: readU64(bytes, start),
    reply: readUtf8(bytes, start + 12, replyEnd),
    stream: cache === undefined ? readUtf8(bytes, replyEnd + 4, streamEnd) : cache.stream(bytes, replyEnd + 4, streamEnd),
    partitionKey: view(bytes, streamEnd + 4, pkeyEnd),
    data: view(bytes, pkeyEnd, end),
    // Present from the start, so that setting them later changes no shape and allocates no property store.
    headers: undefined,
    settle: undefined,
    accepted: undefined,
    origin: undefined,
  };
}
