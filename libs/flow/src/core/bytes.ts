/**
 * Big-endian integers, UTF-8 text and u32-length-prefixed fields inside byte
 * arrays, for the wire formats (frame.ts, codec.ts). Writers and readers trust
 * their offsets (callers size buffers and check bounds first, `fieldEnd` is the
 * check) and allocate nothing but the strings they return.
 */

const TWO_32 = 0x100000000;
/** The high half of 2^53: a u64 whose high half is below this is a safe JS integer. */
const SAFE_HI = 0x200000;

/**
 * A u64 from the wire, in its canonical form: a number up to 2^53 - 1, a bigint
 * from 2^53 on. Canonical, so equal values are equal Map keys; our own ids are
 * small counters and stay numbers, while a foreign id round-trips byte for byte.
 */
export type U64 = number | bigint;

/** No bytes: an empty payload. Shared, as nothing can be written into it. */
export const NO_BYTES: Uint8Array = new Uint8Array(0);

/** The largest u64, 2^64 - 1. */
export const U64_MAX = (1n << 64n) - 1n;

const encoder = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF as text instead of silently dropping it;
// non-fatal decoding turns invalid sequences into U+FFFD instead of throwing.
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** Below this many bytes, building the string char by char beats TextDecoder (measured, Node 20). */
const SHORT_TEXT = 12;
/** Below this many chars, a write loop beats TextEncoder.encodeInto on ASCII text. */
const SHORT_ASCII_WRITE = 64;

/**
 * Bytes [start, end) of `bytes` as a new Uint8Array over the same memory:
 * what `bytes.subarray(start, end)` gives for a Uint8Array, at less than
 * half its cost in V8 (subarray looks up the species constructor each call;
 * measured on Node 20). Always a plain Uint8Array, also for a Buffer.
 */
export function view(bytes: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset + start, end - start);
}

export function readU32(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) | bytes[offset + 3]) >>> 0;
}

export function writeU32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 24;
  bytes[offset + 1] = value >>> 16;
  bytes[offset + 2] = value >>> 8;
  bytes[offset + 3] = value;
}

/** A u64 in its canonical form (see U64): exact over the whole range. */
export function readU64(bytes: Uint8Array, offset: number): U64 {
  const hi = readU32(bytes, offset);
  const lo = readU32(bytes, offset + 4);
  return hi < SAFE_HI ? hi * TWO_32 + lo : (BigInt(hi) << 32n) | BigInt(lo);
}

/** `value` must pass isU64 (the caller checks). */
export function writeU64(bytes: Uint8Array, offset: number, value: U64): void {
  if (typeof value === 'number') {
    writeU32(bytes, offset, Math.floor(value / TWO_32));
    writeU32(bytes, offset + 4, value >>> 0);
  } else {
    writeU32(bytes, offset, Number(value >> 32n));
    writeU32(bytes, offset + 4, Number(value & 0xffffffffn));
  }
}

/** A safe non-negative integer, or a bigint in [0, 2^64). */
export function isU64(value: unknown): value is U64 {
  return typeof value === 'bigint' ? value >= 0n && value <= U64_MAX : Number.isSafeInteger(value) && (value as number) >= 0;
}

/**
 * The number of bytes TextEncoder produces for `s`: surrogate pairs take 4 bytes,
 * a lone surrogate 3 (it is encoded as U+FFFD).
 */
export function utf8Length(s: string): number {
  const n = s.length;
  let bytes = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      bytes += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2; // two UTF-16 units, four bytes
      i++;
    } else {
      bytes += 2;
    }
  }
  return bytes;
}

/**
 * Writes `s` at `offset`; `byteLength` is `utf8Length(s)` and the caller has made
 * room for it.
 */
export function writeUtf8(s: string, bytes: Uint8Array, offset: number, byteLength: number): void {
  if (byteLength === s.length && byteLength < SHORT_ASCII_WRITE) {
    for (let i = 0; i < byteLength; i++) bytes[offset + i] = s.charCodeAt(i);
  } else if (byteLength > 0) {
    encoder.encodeInto(s, bytes.subarray(offset, offset + byteLength));
  }
}

/** Decodes bytes [start, end) as UTF-8; never throws (invalid sequences become U+FFFD). */
export function readUtf8(bytes: Uint8Array, start: number, end: number): string {
  if (end - start < SHORT_TEXT) {
    let s = '';
    for (let i = start; i < end; i++) {
      const c = bytes[i];
      if (c >= 0x80) return decoder.decode(bytes.subarray(start, end));
      s += String.fromCharCode(c);
    }
    return s;
  }
  return decoder.decode(bytes.subarray(start, end));
}

/** Writes `u32 length | text` at `at`; `length` is `utf8Length(text)`. Returns the offset after it. */
export function writeTextField(bytes: Uint8Array, at: number, text: string, length: number): number {
  writeU32(bytes, at, length);
  writeUtf8(text, bytes, at + 4, length);
  return at + 4 + length;
}

/** Writes `u32 length | field` at `at`. Returns the offset after it. */
export function writeBytesField(bytes: Uint8Array, at: number, field: Uint8Array): number {
  writeU32(bytes, at, field.length);
  bytes.set(field, at + 4);
  return at + 4 + field.length;
}

/**
 * The end offset of the `u32 length | field` at `at`, or -1 when the length or the
 * field does not fit before `end`. Never trusts the length before comparing it.
 */
export function fieldEnd(bytes: Uint8Array, at: number, end: number): number {
  if (end - at < 4) return -1;
  const length = readU32(bytes, at);
  return length > end - at - 4 ? -1 : at + 4 + length;
}

/** Why `fieldEnd` returned -1, naming the field: for error messages. */
export function fieldOverrun(bytes: Uint8Array, at: number, end: number, field: string): string {
  return end - at < 4
    ? `${field} length is cut off: ${Math.max(end - at, 0)} of 4 bytes at offset ${at}`
    : `${field} length ${readU32(bytes, at)} exceeds the ${end - at - 4} bytes left`;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * `bytes` for a message to people: as a JSON string when they are UTF-8, else
 * as 0x and hex; cut after `max` characters, saying the length in bytes.
 */
export function quoteBytes(bytes: Uint8Array, max: number): string {
  let text: string;
  try {
    text = JSON.stringify(strictUtf8.decode(bytes));
  } catch {
    text = `0x${Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
  }
  return text.length <= max ? text : `${text.slice(0, max)}... (${bytes.length} bytes)`;
}
