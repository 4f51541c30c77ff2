import { seededRandom } from '../testing/seeded-random';
import { lowerBound } from './binary-search';
import { Key } from './key';
import { KeyIndex } from './key-index';

describe('KeyIndex', () => {
  it('finds the same positions as a binary search over the keys, with ties on the high half', () => {
    const random = seededRandom(7);
    const highs = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff];
    const randomKey = (): Key => new Key(random.next() < 0.5 ? highs[random.int(highs.length)] : random.int(0x100000000), random.int(0x100000000));
    for (const size of [0, 1, 2, 7, 768]) {
      const keys = Array.from({ length: size }, randomKey).sort((a, b) => a.compare(b));
      const index = new KeyIndex(keys);
      expect(index.length).toBe(size);
      const probes = [...keys, ...Array.from({ length: 500 }, randomKey), new Key(0, 0), new Key(0xffffffff, 0xffffffff)];
      const wrong = probes.filter((probe) => {
        const i = lowerBound(keys, probe);
        return index.lowerBound(probe) !== i || index.has(probe) !== (i < keys.length && keys[i].equals(probe));
      });
      expect(wrong).toEqual([]);
      for (const k of keys) expect(index.has(new Key(k.hi, k.lo))).toBe(true);
    }
  });

  it('finds the same positions when keys crowd into few buckets, and past the largest bucket table', () => {
    const random = seededRandom(11);
    // Crowded: every key in the top or bottom 1/65,536 of the ring, so a few buckets hold them all.
    const crowded = (): Key => new Key((random.next() < 0.5 ? 0 : 0xffff0000) + random.int(0x10000), random.int(0x100000000));
    const spread = (): Key => new Key(random.int(0x100000000), random.int(0x100000000));
    for (const [size, make] of [[3, crowded], [768, crowded], [70_000, spread]] as const) {
      const keys = Array.from({ length: size }, make).sort((a, b) => a.compare(b));
      const index = new KeyIndex(keys);
      const probes = [...keys.filter((_, i) => i % 7 === 0), ...Array.from({ length: 2_000 }, () => (random.next() < 0.5 ? crowded() : spread()))];
      const wrong = probes.filter((probe) => index.lowerBound(probe) !== lowerBound(keys, probe));
      expect(wrong).toEqual([]);
    }
  });
});
