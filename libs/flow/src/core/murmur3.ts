/**
 * MurmurHash3 x64-128 with seed 0, in two variants that differ only in how the
 * body blocks are read:
 * - standard (`goFlow` false): the reference algorithm. Body block `b` (of
 *   `floor(len / 16)`) is the 16 bytes at offset `16 * b`, read as two
 *   little-endian u64 words; every byte of the input is read.
 * - Go flow's (`goFlow` true), fixed by the Go vectors (PROTOCOL.md, "the hash"):
 *   the words are read BIG-endian and block `b` starts at offset `8 * b`, because
 *   Go flow steps through the body in u64 units. Consecutive blocks overlap by 8
 *   bytes, so the second half of a body of two or more blocks is only partly read:
 *   bytes 24..31 of a 32-byte input never reach the hash.
 * The tail (the last `len % 16` bytes) is folded exactly as in the reference in
 * both. Both return h1 (the first 64-bit half of the 128-bit result).
 *
 * Every 64-bit value is held as two 32-bit halves in int32 locals, so the hash runs
 * on V8's integer fast paths without BigInt: bench/hash.bench.ts measures it against
 * a BigInt version of the same algorithm.
 */

// The four 64-bit multipliers, as halves.
const C1_HI = 0x87c37b91 | 0;
const C1_LO = 0x114253d5 | 0;
const C2_HI = 0x4cf5ad43 | 0;
const C2_LO = 0x2745937f | 0;
const F1_HI = 0xff51afd7 | 0;
const F1_LO = 0xed558ccd | 0;
const F2_HI = 0xc4ceb9fe | 0;
const F2_LO = 0x1a85ec53 | 0;

const TWO_32 = 0x100000000;
const TWO_NEG_32 = 1 / TWO_32;

/**
 * The high 32 bits of the 64-bit product of two uint32 values (given as int32 bit
 * patterns). The double product is off by at most 2^10 and subtracting the exact
 * low half adds at most 2^10 more, so the quotient by 2^32 is within 2^-21 of the
 * exact high half and rounds to it. Measured faster than 16-bit limbs.
 */
function mulHigh32(a: number, b: number): number {
  const low = Math.imul(a, b) >>> 0;
  return Math.round(((a >>> 0) * (b >>> 0) - low) * TWO_NEG_32) | 0;
}

/** High half of the low 64 bits of (aHi:aLo) * (bHi:bLo). The low half is Math.imul(aLo, bLo). */
function mulHi(aHi: number, aLo: number, bHi: number, bLo: number): number {
  return (mulHigh32(aLo, bLo) + Math.imul(aHi, bLo) + Math.imul(aLo, bHi)) | 0;
}

/**
 * Hashes `bytes` and writes the first 64-bit half of the result (h1) as
 * unsigned 32-bit halves: high to `out[0]`, low to `out[1]`; `goFlow` selects
 * Go flow's variant (header comment). Reads `bytes` only, and allocates
 * nothing: keyFromBytes hashes once per message into one scratch array.
 */
export function murmur3Into(bytes: Uint8Array, goFlow: boolean, out: Uint32Array): void {
  const len = bytes.length;
  const bodyEnd = len - (len & 15);
  // Block b starts at step * b, so the last block starts here.
  const step = goFlow ? 8 : 16;
  const lastBlock = goFlow ? bodyEnd / 2 - 8 : bodyEnd - 16;
  let h1h = 0;
  let h1l = 0;
  let h2h = 0;
  let h2l = 0;
  let k1h = 0;
  let k1l = 0;
  let k2h = 0;
  let k2l = 0;
  let th = 0;
  let tl = 0;

  for (let i = 0; i <= lastBlock; i += step) {
    if (goFlow) {
      k1h = (bytes[i] << 24) | (bytes[i + 1] << 16) | (bytes[i + 2] << 8) | bytes[i + 3];
      k1l = (bytes[i + 4] << 24) | (bytes[i + 5] << 16) | (bytes[i + 6] << 8) | bytes[i + 7];
      k2h = (bytes[i + 8] << 24) | (bytes[i + 9] << 16) | (bytes[i + 10] << 8) | bytes[i + 11];
      k2l = (bytes[i + 12] << 24) | (bytes[i + 13] << 16) | (bytes[i + 14] << 8) | bytes[i + 15];
    } else {
      k1l = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
      k1h = bytes[i + 4] | (bytes[i + 5] << 8) | (bytes[i + 6] << 16) | (bytes[i + 7] << 24);
      k2l = bytes[i + 8] | (bytes[i + 9] << 8) | (bytes[i + 10] << 16) | (bytes[i + 11] << 24);
      k2h = bytes[i + 12] | (bytes[i + 13] << 8) | (bytes[i + 14] << 16) | (bytes[i + 15] << 24);
    }

    // k1 *= c1; k1 = rotl(k1, 31); k1 *= c2; h1 ^= k1
    th = mulHi(k1h, k1l, C1_HI, C1_LO);
    tl = Math.imul(k1l, C1_LO);
    k1h = (th << 31) | (tl >>> 1);
    k1l = (tl << 31) | (th >>> 1);
    th = mulHi(k1h, k1l, C2_HI, C2_LO);
    tl = Math.imul(k1l, C2_LO);
    h1h ^= th;
    h1l ^= tl;

    // h1 = rotl(h1, 27); h1 += h2; h1 = h1 * 5 + 0x52dce729. A 64-bit add carries
    // when the low sum wraps below an addend; the high half of low * 5 (< 2^35) is
    // exact in a double.
    th = (h1h << 27) | (h1l >>> 5);
    tl = (h1l << 27) | (h1h >>> 5);
    h1l = (tl + h2l) | 0;
    h1h = (th + h2h + ((h1l >>> 0) < (tl >>> 0) ? 1 : 0)) | 0;
    th = (Math.imul(h1h, 5) + ((((h1l >>> 0) * 5) / TWO_32) | 0)) | 0;
    tl = Math.imul(h1l, 5);
    h1l = (tl + 0x52dce729) | 0;
    h1h = (th + ((h1l >>> 0) < (tl >>> 0) ? 1 : 0)) | 0;

    // k2 *= c2; k2 = rotl(k2, 33); k2 *= c1; h2 ^= k2
    th = mulHi(k2h, k2l, C2_HI, C2_LO);
    tl = Math.imul(k2l, C2_LO);
    k2h = (tl << 1) | (th >>> 31);
    k2l = (th << 1) | (tl >>> 31);
    th = mulHi(k2h, k2l, C1_HI, C1_LO);
    tl = Math.imul(k2l, C1_LO);
    h2h ^= th;
    h2l ^= tl;

    // h2 = rotl(h2, 31); h2 += h1; h2 = h2 * 5 + 0x38495ab5
    th = (h2h << 31) | (h2l >>> 1);
    tl = (h2l << 31) | (h2h >>> 1);
    h2l = (tl + h1l) | 0;
    h2h = (th + h1h + ((h2l >>> 0) < (tl >>> 0) ? 1 : 0)) | 0;
    th = (Math.imul(h2h, 5) + ((((h2l >>> 0) * 5) / TWO_32) | 0)) | 0;
    tl = Math.imul(h2l, 5);
    h2l = (tl + 0x38495ab5) | 0;
    h2h = (th + ((h2l >>> 0) < (tl >>> 0) ? 1 : 0)) | 0;
  }

  // Tail: byte j of the tail sits at bit 8*j of k1 (j < 8) or of k2 (j >= 8).
  const tail = len & 15;
  if (tail > 8) {
    k2h = 0;
    k2l = 0;
    for (let j = tail - 1; j >= 8; j--) {
      if (j >= 12) k2h |= bytes[bodyEnd + j] << ((j - 12) * 8);
      else k2l |= bytes[bodyEnd + j] << ((j - 8) * 8);
    }
    th = mulHi(k2h, k2l, C2_HI, C2_LO);
    tl = Math.imul(k2l, C2_LO);
    k2h = (tl << 1) | (th >>> 31);
    k2l = (th << 1) | (tl >>> 31);
    h2h ^= mulHi(k2h, k2l, C1_HI, C1_LO);
    h2l ^= Math.imul(k2l, C1_LO);
  }
  if (tail > 0) {
    k1h = 0;
    k1l = 0;
    for (let j = (tail < 8 ? tail : 8) - 1; j >= 0; j--) {
      if (j >= 4) k1h |= bytes[bodyEnd + j] << ((j - 4) * 8);
      else k1l |= bytes[bodyEnd + j] << (j * 8);
    }
    th = mulHi(k1h, k1l, C1_HI, C1_LO);
    tl = Math.imul(k1l, C1_LO);
    k1h = (th << 31) | (tl >>> 1);
    k1l = (tl << 31) | (th >>> 1);
    h1h ^= mulHi(k1h, k1l, C2_HI, C2_LO);
    h1l ^= Math.imul(k1l, C2_LO);
  }

  // h1 ^= len; h2 ^= len; h1 += h2; h2 += h1
  const lenHi = (len / TWO_32) | 0;
  h1h ^= lenHi;
  h1l ^= len;
  h2h ^= lenHi;
  h2l ^= len;
  tl = h1l;
  h1l = (tl + h2l) | 0;
  h1h = (h1h + h2h + ((h1l >>> 0) < (tl >>> 0) ? 1 : 0)) | 0;
  tl = h2l;
  h2l = (tl + h1l) | 0;
  h2h = (h2h + h1h + ((h2l >>> 0) < (tl >>> 0) ? 1 : 0)) | 0;

  // fmix64 on both halves, inlined twice: k ^= k>>>33; k *= F1; k ^= k>>>33; k *= F2; k ^= k>>>33
  h1l ^= h1h >>> 1;
  th = mulHi(h1h, h1l, F1_HI, F1_LO);
  tl = Math.imul(h1l, F1_LO);
  tl ^= th >>> 1;
  h1h = mulHi(th, tl, F2_HI, F2_LO);
  h1l = Math.imul(tl, F2_LO);
  h1l ^= h1h >>> 1;

  h2l ^= h2h >>> 1;
  th = mulHi(h2h, h2l, F1_HI, F1_LO);
  tl = Math.imul(h2l, F1_LO);
  tl ^= th >>> 1;
  h2h = mulHi(th, tl, F2_HI, F2_LO);
  h2l = Math.imul(tl, F2_LO);
  h2l ^= h2h >>> 1;

  // h1 += h2 (the final h2 += h1 is not needed: only h1 is returned)
  tl = (h1l + h2l) | 0;
  out[0] = h1h + h2h + ((tl >>> 0) < (h1l >>> 0) ? 1 : 0);
  out[1] = tl;
}
