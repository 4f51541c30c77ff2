import { readU64, U64, writeU32, writeU64 } from './bytes';
import { ProtocolError } from './errors';
import { Allocate, encodeFwd, FwdFrame } from './frame';
import { Key, KEY_SIZE } from './key';
import { encodePublishFwd, FPUB, NOTICES_TRAILER, PublishFlags, trailerAt } from './publish-wire';

/**
 * The publish a member's FWD is (publish flag Origin, docs/PROTOCOL.md,
 * "Duplicate window"): a member that relays a publisher's publish, or moves
 * one it had queued, forwards it under its own id and names it by its
 * publisher's node key and id, after the flags.
 */
export interface PublishOrigin {
  /** Its publisher's node key. */
  readonly key: Key;
  /** Its id at that publisher. */
  readonly id: U64;
}

/** Trailer bytes of flag Origin's fields (no more than LARGEST_TRAILER allows besides the flags). */
export const ORIGIN_BYTES = KEY_SIZE + 8;

/** Trailer bytes of a member's FWD with notices that names the publish `origin` (or none). */
export function memberTrailer(origin: PublishOrigin | undefined): number {
  return NOTICES_TRAILER + (origin === undefined ? 0 : ORIGIN_BYTES);
}

/** A member's FWD asking for notices, naming the publish it is when `origin` is given. */
export function encodeMemberFwd(frame: FwdFrame, allocate: Allocate, origin: PublishOrigin | undefined): Uint8Array {
  if (origin === undefined) return encodePublishFwd(frame, PublishFlags.Notices, allocate);
  const out = encodeFwd(frame, allocate, memberTrailer(origin));
  const at = out.length - memberTrailer(origin);
  writeU32(out, at, FPUB);
  out[at + 4] = PublishFlags.Notices | PublishFlags.Origin;
  origin.key.write(out, at + 5);
  writeU64(out, at + 5 + KEY_SIZE, origin.id);
  return out;
}

/**
 * The publish a member's FWD names (`flags`, its own, have Origin), after any
 * predecessor and floor; throws ProtocolError when it is missing.
 */
export function readOrigin(data: Uint8Array, flags: number): PublishOrigin {
  const at = trailerAt(data) + 5 + ((flags & PublishFlags.Follows) !== 0 ? 8 : 0) + ((flags & PublishFlags.Floor) !== 0 ? 8 : 0);
  if (data.length - at < ORIGIN_BYTES) throw new ProtocolError('publish flags', 'flag Origin without the publisher and id');
  return { key: Key.read(data, at), id: readU64(data, at + KEY_SIZE) };
}
