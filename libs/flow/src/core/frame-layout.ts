/**
 * What every frame shares (frame.ts has the layout): the 12-byte header, the
 * allocator a frame is written into, and the checks that encoders and decoders
 * hold payloads to. Import its public names from frame.ts, which exports them too.
 */
import { fieldEnd, fieldOverrun, isU64, U64, writeU32 } from './bytes';
import { ProtocolError } from './errors';
import type { FrameType } from './frame';

export const FRAME_VERSION = 1;
export const FRAME_HEADER_SIZE = 12;

/**
 * Returns `size` zeroed bytes that nobody else holds. A broker passes a
 * Slab's allocator (slab.ts) to spare the per-frame backing store.
 */
export type Allocate = (size: number) => Uint8Array;

/** A fresh array per call: the allocator of callers without a slab. */
export const newBytes: Allocate = (size) => new Uint8Array(size);

/** Header with `payloadLength` bytes of zeroed payload after it. */
/** `trailer`: bytes left after the payload for the caller (publish-wire.ts), outside the declared length. */
export function header(code: number, payloadLength: number, allocate: Allocate, trailer = 0): Uint8Array {
  const out = allocate(FRAME_HEADER_SIZE + payloadLength + trailer);
  writeU32(out, 0, FRAME_VERSION);
  writeU32(out, 4, code);
  writeU32(out, 8, payloadLength);
  return out;
}

/** The end offset of the length-prefixed field at `at`; throws ProtocolError when it does not fit before `end`. */
export function field(bytes: Uint8Array, at: number, end: number, type: FrameType, name: string): number {
  const fieldEndAt = fieldEnd(bytes, at, end);
  if (fieldEndAt < 0) throw malformed(type, fieldOverrun(bytes, at, end, name));
  return fieldEndAt;
}

/** The payload must be `min` bytes long, or at least `min` unless `exact`. */
export function checkSize(type: FrameType, length: number, min: number, exact = false): void {
  if (exact ? length !== min : length < min) {
    throw malformed(type, `payload length ${length}, expected ${exact ? 'exactly' : 'at least'} ${min}`);
  }
}

export function checkId(id: U64, type: FrameType): U64 {
  if (!isU64(id)) throw malformed(type, `id must be a u64 (a safe integer or a bigint below 2^64), received ${String(id)}`);
  return id;
}

/** Errors name the type without its padding space ('MSG'). Only called on failure paths. */
export function malformed(type: FrameType, reason: string): ProtocolError {
  return new ProtocolError(type.trimEnd(), reason);
}
