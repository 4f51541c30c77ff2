/** Helpers for tests that number their messages. */

/** `n` as 4 big-endian bytes: a payload that carries its own sequence number. */
export function seq(n: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, n);
  return bytes;
}

/** The inverse of `seq`; reads the first 4 bytes of any view. */
export function readSeq(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0);
}

const decoder = new TextDecoder();

/** Bytes as UTF-8 text. */
export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}
