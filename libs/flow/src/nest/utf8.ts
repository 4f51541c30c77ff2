/**
 * UTF-8 bytes of `text` as a plain Uint8Array. Node's Buffer.from encodes
 * short strings into its shared pool, about twice as fast as
 * TextEncoder.encode, which allocates a new backing store per call (payloads
 * and partition keys are encoded once per message); the view keeps Buffer's
 * methods (a `slice` that does not copy) out of users' hands.
 */
export function utf8(text: string): Uint8Array {
  const bytes = Buffer.from(text, 'utf8');
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
