import { fromHex, loadGoVectors, toHex } from '../../test/go-vectors';
import { murmur3Into } from './murmur3';

/** murmur3Into's halves as a pair. */
function murmur3Hi64(bytes: Uint8Array, goFlow: boolean): [hi: number, lo: number] {
  const out = new Uint32Array(2);
  murmur3Into(bytes, goFlow, out);
  return [out[0], out[1]];
}

const vectors = loadGoVectors();

function hashHex(bytes: Uint8Array): string {
  const [hi, lo] = murmur3Hi64(bytes, true);
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

describe('murmur3Hi64, Go flow variant', () => {
  it.each(vectors.keyFromBinary.map((v) => [v.input_hex.length / 2, v.input_hex, v.key]))(
    'hashes %i raw bytes (%s) to Go flow key %s',
    (_length, inputHex, key) => {
      expect(hashHex(fromHex(inputHex as string))).toBe(key);
    },
  );

  it.each(vectors.keyFromBytes.map((v) => [v.input, v.input_hex, v.key]))(
    'hashes the UTF-8 of %j to Go flow key %s',
    (_text, inputHex, key) => {
      expect(hashHex(fromHex(inputHex as string))).toBe(key);
    },
  );

  it('covers every tail length and inputs of several blocks in the vectors', () => {
    const lengths = new Set(vectors.keyFromBinary.map((v) => v.input_hex.length / 2));
    for (let length = 0; length < 64; length++) expect(lengths.has(length)).toBe(true);
  });

  it('hashes a subarray view by its own offset and length', () => {
    const whole = fromHex('ff'.repeat(5) + vectors.keyFromBinary[40].input_hex + 'ee'.repeat(3));
    const view = whole.subarray(5, whole.length - 3);
    expect(hashHex(view)).toBe(vectors.keyFromBinary[40].key);
  });

  it('returns both halves as unsigned 32-bit integers and leaves the input unchanged', () => {
    for (const v of vectors.keyFromBinary) {
      const input = fromHex(v.input_hex);
      const [hi, lo] = murmur3Hi64(input, true);
      for (const half of [hi, lo]) {
        expect(Number.isInteger(half) && half >= 0 && half < 2 ** 32).toBe(true);
      }
      expect(toHex(input)).toBe(v.input_hex);
    }
  });
});

const M64 = (1n << 64n) - 1n;
const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (64n - r))) & M64;
const fmix = (k: bigint): bigint => {
  k ^= k >> 33n;
  k = (k * 0xff51afd7ed558ccdn) & M64;
  k ^= k >> 33n;
  k = (k * 0xc4ceb9fe1a85ec53n) & M64;
  return k ^ (k >> 33n);
};
const readLe = (bytes: Uint8Array, at: number, n: number): bigint => {
  let v = 0n;
  for (let j = n - 1; j >= 0; j--) v = (v << 8n) | BigInt(bytes[at + j]);
  return v;
};

/** The reference MurmurHash3_x64_128 (seed 0) in BigInt, straight from the algorithm: h1 only. */
function referenceH1(bytes: Uint8Array): bigint {
  const C1 = 0x87c37b91114253d5n;
  const C2 = 0x4cf5ad432745937fn;
  let h1 = 0n;
  let h2 = 0n;
  const blocks = Math.floor(bytes.length / 16);
  for (let b = 0; b < blocks; b++) {
    let k1 = readLe(bytes, 16 * b, 8);
    let k2 = readLe(bytes, 16 * b + 8, 8);
    k1 = (rotl((k1 * C1) & M64, 31n) * C2) & M64;
    h1 ^= k1;
    h1 = (((rotl(h1, 27n) + h2) & M64) * 5n + 0x52dce729n) & M64;
    k2 = (rotl((k2 * C2) & M64, 33n) * C1) & M64;
    h2 ^= k2;
    h2 = (((rotl(h2, 31n) + h1) & M64) * 5n + 0x38495ab5n) & M64;
  }
  const tail = bytes.length % 16;
  const at = 16 * blocks;
  if (tail > 8) h2 ^= (rotl((readLe(bytes, at + 8, tail - 8) * C2) & M64, 33n) * C1) & M64;
  if (tail > 0) h1 ^= (rotl((readLe(bytes, at, Math.min(tail, 8)) * C1) & M64, 31n) * C2) & M64;
  h1 ^= BigInt(bytes.length);
  h2 ^= BigInt(bytes.length);
  h1 = (h1 + h2) & M64;
  h2 = (h2 + h1) & M64;
  h1 = fmix(h1);
  h2 = fmix(h2);
  return (h1 + h2) & M64;
}

function standardHex(bytes: Uint8Array): string {
  const [hi, lo] = murmur3Hi64(bytes, false);
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

describe('murmur3Hi64, standard MurmurHash3 x64-128', () => {
  // Published seed-0 values (h1) of the reference algorithm, as the Go port
  // github.com/spaolacci/murmur3 tests them: 0, 5, 12, 25 (one block + tail)
  // and 44 bytes (two blocks + tail).
  it.each([
    ['', '0000000000000000'],
    ['hello', 'cbd8a7b341bd9b02'],
    ['hello, world', '342fac623a5ebc8e'],
    ['19 Jan 2038 at 3:14:07 AM', 'b89e5988b737affc'],
    ['The quick brown fox jumps over the lazy dog.', 'cd99481f9ee902c9'],
  ])('hashes %j to the published h1 %s', (text, h1) => {
    expect(standardHex(new TextEncoder().encode(text))).toBe(h1);
  });

  it('agrees with a BigInt rendering of the reference for every length from 0 to 100 bytes', () => {
    let seed = 0x2545f491;
    for (let length = 0; length <= 100; length++) {
      const bytes = new Uint8Array(length);
      for (let i = 0; i < length; i++) {
        seed = (Math.imul(seed, 1103515245) + 12345) | 0;
        bytes[i] = (seed >>> 16) & 0xff;
      }
      expect(standardHex(bytes)).toBe(referenceH1(bytes).toString(16).padStart(16, '0'));
    }
  });

  it('reads every byte: changing any one byte of a 48-byte input changes the hash', () => {
    const base = new Uint8Array(48).map((_, i) => i * 7);
    const hashes = new Set([standardHex(base)]);
    for (let i = 0; i < base.length; i++) {
      const changed = base.slice();
      changed[i] ^= 0x5a;
      hashes.add(standardHex(changed));
    }
    expect(hashes.size).toBe(49);
  });

  it('differs from the Go flow variant, which skips bytes 24..31 of a 32-byte input', () => {
    const a = new TextEncoder().encode('order-2026-11-30-000000000000001');
    const b = new TextEncoder().encode('order-2026-11-30-000000000000002');
    expect(a.length).toBe(32);
    expect(murmur3Hi64(a, true)).toEqual(murmur3Hi64(b, true));
    expect(murmur3Hi64(a, false)).not.toEqual(murmur3Hi64(b, false));
  });
});
