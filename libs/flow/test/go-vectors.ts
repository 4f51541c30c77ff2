/**
 * The interop vectors produced by running Go flow (docs/PROTOCOL.md): hash,
 * frame, codec, node-subject and ring-owner cases, kept as data in
 * test/fixtures/go-flow-vectors.json.
 */
import { readFileSync } from 'fs';
import * as path from 'path';

export interface GoKeyVector {
  /** UTF-8 text, present for `keyFromBytes` only. */
  input?: string;
  input_hex: string;
  key: string;
}

export interface GoFrameVector {
  /** What the Go side encoded, in words ("msg id=7 reply=_global.<node-1> ..."). */
  desc: string;
  hex: string;
  /** The type without padding: 'JOIN', 'MSG', ... */
  type: string;
}

export interface GoCodecVector {
  desc: string;
  hex: string;
}

export interface GoNodeStreamVector {
  clique: string;
  node: string;
  subject: string;
}

export interface GoRingVectors {
  nodes: { node: string; key: string }[];
  owners: { partitionKey: string; partitionHash: string; owner: string }[];
}

export interface GoVectors {
  keyFromBytes: GoKeyVector[];
  keyFromBinary: GoKeyVector[];
  frames: GoFrameVector[];
  defaultCodec: GoCodecVector[];
  nodeStream: GoNodeStreamVector[];
  ring: GoRingVectors;
}

/** The repository root is three levels above libs/flow/test. */
export const GO_VECTORS_PATH = path.resolve(__dirname, '../../../test/fixtures/go-flow-vectors.json');

/** Reads and parses the vectors file; each call reads it afresh. */
export function loadGoVectors(): GoVectors {
  return JSON.parse(readFileSync(GO_VECTORS_PATH, 'utf8')) as GoVectors;
}

/** Bytes from a hex string as the vectors write them (even length, any case). */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new TypeError(`not hex: ${JSON.stringify(hex)}`);
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/** Lowercase hex of `bytes`, for comparing against the vectors. */
export function toHex(bytes: Uint8Array): string {
  let hex = '';
  for (let i = 0; i < bytes.length; i++) hex += bytes[i].toString(16).padStart(2, '0');
  return hex;
}
