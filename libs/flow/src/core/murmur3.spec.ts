import { fromHex, loadGoVectors, toHex } from '../../test/go-vectors';
import { murmur3Hi64 } from './murmur3';

const vectors = loadGoVectors();

function hashHex(bytes: Uint8Array): string {
  const [hi, lo] = murmur3Hi64(bytes);
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

describe('murmur3Hi64', () => {
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
      const [hi, lo] = murmur3Hi64(input);
      for (const half of [hi, lo]) {
        expect(Number.isInteger(half) && half >= 0 && half < 2 ** 32).toBe(true);
      }
      expect(toHex(input)).toBe(v.input_hex);
    }
  });
});
