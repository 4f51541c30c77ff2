import { randomFillSync } from './random';
import { ProtocolError } from './errors';
import { murmur3Into } from './murmur3';

/** Size of a key on the wire, in bytes. */
export const KEY_SIZE = 8;

const HEX = '0123456789abcdef';
const HEX_KEY = /^[0-9a-fA-F]{16}$/;

/**
 * An unsigned 64-bit key: a node's position on the ring or a partition hash.
 * Held as two unsigned 32-bit halves, which compare and hash without BigInt
 * allocation (bench/hash.bench.ts has the measurement). Immutable.
 */
export class Key {
  /** Cached text form; keys are compared and logged far more often than created. */
  #hex: string | undefined;

  constructor(
    /** The high 32 bits, as an unsigned integer. */
    readonly hi: number,
    /** The low 32 bits, as an unsigned integer. */
    readonly lo: number,
  ) {}

  /** Reads 8 big-endian bytes at `offset`. The caller has checked the length. */
  static read(bytes: Uint8Array, offset: number): Key {
    const hi = ((bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) | bytes[offset + 3]) >>> 0;
    const lo =
      ((bytes[offset + 4] << 24) | (bytes[offset + 5] << 16) | (bytes[offset + 6] << 8) | bytes[offset + 7]) >>> 0;
    return new Key(hi, lo);
  }

  /** Writes the 8 big-endian bytes at `offset`. The caller has sized the buffer. */
  write(bytes: Uint8Array, offset: number): void {
    bytes[offset] = this.hi >>> 24;
    bytes[offset + 1] = (this.hi >>> 16) & 0xff;
    bytes[offset + 2] = (this.hi >>> 8) & 0xff;
    bytes[offset + 3] = this.hi & 0xff;
    bytes[offset + 4] = this.lo >>> 24;
    bytes[offset + 5] = (this.lo >>> 16) & 0xff;
    bytes[offset + 6] = (this.lo >>> 8) & 0xff;
    bytes[offset + 7] = this.lo & 0xff;
  }

  /** Negative, zero or positive as this key sorts before, equal to or after `other`. */
  compare(other: Key): number {
    return this.hi !== other.hi ? this.hi - other.hi : this.lo - other.lo;
  }

  equals(other: Key): boolean {
    return this.hi === other.hi && this.lo === other.lo;
  }

  /** `n mod m` of the 64-bit value, for synchronous partition slots (m < 2^21). */
  mod(m: number): number {
    // (hi * 2^32 + lo) mod m, without leaving the safe-integer range.
    return (((this.hi % m) * (0x100000000 % m)) % m + (this.lo % m)) % m;
  }

  toBigInt(): bigint {
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }

  /** Exactly 16 lowercase hex digits, zero-padded: the form used in node subjects. */
  toString(): string {
    if (this.#hex === undefined) this.#hex = hex32(this.hi) + hex32(this.lo);
    return this.#hex;
  }

  toJSON(): string {
    return this.toString();
  }
}

function hex32(n: number): string {
  let s = '';
  for (let shift = 28; shift >= 0; shift -= 4) s += HEX[(n >>> shift) & 0xf];
  return s;
}

/**
 * How partition keys (and node names) become ring keys:
 * - `'murmur3'`: standard MurmurHash3 x64-128, seed 0, first 64-bit half; reads every byte.
 * - `'go-flow'`: Go flow's variant (PROTOCOL.md, "the hash"), which skips bytes 24..31
 *   of a 32-byte input; for cliques that include Go brokers.
 */
export type PartitionHash = 'murmur3' | 'go-flow';

export const PARTITION_HASHES: readonly PartitionHash[] = Object.freeze(['murmur3', 'go-flow']);

/** The 64-bit hash of arbitrary bytes in mode `hash` (default: standard MurmurHash3). */
export function keyFromBytes(bytes: Uint8Array, hash: PartitionHash = 'murmur3'): Key {
  murmur3Into(bytes, hash === 'go-flow', halves);
  return new Key(halves[0], halves[1]);
}

/** keyFromBytes' scratch: the hash halves, read right after they are written. */
const halves = new Uint32Array(2);

const utf8 = new TextEncoder();

/**
 * `keyFromBytes` of the UTF-8 encoding of `s`: how a node name becomes a node key.
 * `keyFromString(name, 'go-flow')` is Go flow's node key for `name`.
 */
export function keyFromString(s: string, hash: PartitionHash = 'murmur3'): Key {
  return keyFromBytes(utf8.encode(s), hash);
}

/** 8 random bytes: the node key of a broker configured with neither name nor key. */
export function randomKey(): Key {
  const bytes = new Uint8Array(KEY_SIZE);
  randomFillSync(bytes);
  return Key.read(bytes, 0);
}

/** Parses the text form. Anything but exactly 16 hex digits is a ProtocolError. */
export function parseKey(hex: string): Key {
  if (typeof hex !== 'string' || !HEX_KEY.test(hex)) {
    // JSON.stringify would throw on a BigInt or a cyclic object: describe non-strings by type.
    const received = typeof hex === 'string' ? JSON.stringify(hex) : hex === null ? 'null' : `a ${typeof hex}`;
    throw new ProtocolError('key', `expected 16 hex digits, received ${received}`);
  }
  return new Key(parseInt(hex.slice(0, 8), 16) >>> 0, parseInt(hex.slice(8), 16) >>> 0);
}
