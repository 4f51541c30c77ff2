import { loadGoVectors } from '../../test/go-vectors';
import { seededRandom as seededSource } from '../testing/seeded-random';
import { Key, keyFromString, parseKey } from './key';
import { Ring } from './ring';

const vectors = loadGoVectors();

/** A seeded float source in [0, 1), so failures reproduce. */
const seededRandom = (seed: number): (() => number) => seededSource(seed).next;

/** The specification, scanned linearly: the first member >= p, else the smallest. */
function naiveOwner(members: readonly Key[], partition: Key): Key | undefined {
  let owner: Key | undefined;
  let smallest: Key | undefined;
  for (const k of members) {
    if (smallest === undefined || k.compare(smallest) < 0) smallest = k;
    if (k.compare(partition) >= 0 && (owner === undefined || k.compare(owner) < 0)) owner = k;
  }
  return owner ?? smallest;
}

const key = (hex: string): Key => parseKey(hex);

describe('Ring', () => {
  describe('against the Go vectors', () => {
    const ring = new Ring();
    const names = new Map<string, string>();
    for (const { node } of vectors.ring.nodes) {
      const nodeKey = keyFromString(node);
      ring.add(nodeKey);
      names.set(nodeKey.toString(), node);
    }

    it('derives each node key from the node name as Go does', () => {
      for (const { node, key: hex } of vectors.ring.nodes) expect(keyFromString(node).toString()).toBe(hex);
    });

    it.each(vectors.ring.owners)('assigns $partitionKey to $owner', ({ partitionKey, partitionHash, owner }) => {
      const partition = keyFromString(partitionKey);
      expect(partition.toString()).toBe(partitionHash);
      const found = ring.ownerOf(partition);
      expect(found && names.get(found.toString())).toBe(owner);
    });
  });

  it('has no owner while empty', () => {
    const ring = new Ring();
    expect(ring.size).toBe(0);
    expect(ring.ownerOf(key('0123456789abcdef'))).toBeUndefined();
    expect(ring.at(0)).toBeUndefined();
    expect(ring.keys()).toEqual([]);
  });

  it('gives every partition to the only member', () => {
    const ring = new Ring();
    const only = key('8000000000000000');
    ring.add(only);
    for (const p of ['0000000000000000', '8000000000000000', 'ffffffffffffffff']) {
      expect(ring.ownerOf(key(p))).toBe(only);
    }
  });

  it('gives a member the arc (predecessor, itself] and wraps past the largest member', () => {
    const ring = new Ring();
    const [a, b, c] = ['1000000000000000', '2000000000000000', '3000000000000000'].map(key);
    for (const k of [c, a, b]) ring.add(k);
    expect(ring.ownerOf(key('0000000000000000'))).toBe(a);
    expect(ring.ownerOf(a)).toBe(a);
    expect(ring.ownerOf(key('1000000000000001'))).toBe(b);
    expect(ring.ownerOf(b)).toBe(b);
    expect(ring.ownerOf(c)).toBe(c);
    expect(ring.ownerOf(key('3000000000000001'))).toBe(a);
    expect(ring.ownerOf(key('ffffffffffffffff'))).toBe(a);
  });

  it('orders keys by the high half first, then the low half as unsigned', () => {
    const ring = new Ring();
    const keys = ['00000001ffffffff', '0000000200000000', 'ffffffff00000000', '0000000180000000'].map(key);
    for (const k of keys) ring.add(k);
    expect(ring.keys().map(String)).toEqual([
      '0000000180000000',
      '00000001ffffffff',
      '0000000200000000',
      'ffffffff00000000',
    ]);
    expect(ring.ownerOf(key('00000001ffffffff'))?.toString()).toBe('00000001ffffffff');
    expect(ring.ownerOf(key('0000000180000001'))?.toString()).toBe('00000001ffffffff');
  });

  it('refuses a key it already holds and removes only members', () => {
    const ring = new Ring();
    expect(ring.add(key('00000000000000aa'))).toBe(true);
    expect(ring.add(key('00000000000000aa'))).toBe(false);
    expect(ring.size).toBe(1);
    expect(ring.remove(key('00000000000000bb'))).toBe(false);
    expect(ring.remove(key('00000000000000aa'))).toBe(true);
    expect(ring.remove(key('00000000000000aa'))).toBe(false);
    expect(ring.size).toBe(0);
  });

  it('walks around the ring with at() taken modulo the size', () => {
    const ring = new Ring();
    const [a, b, c] = ['1000000000000000', '2000000000000000', '3000000000000000'].map(key);
    for (const k of [b, c, a]) ring.add(k);
    expect([0, 1, 2, 3, 4, -1, -3, -4].map((i) => ring.at(i))).toEqual([a, b, c, a, b, c, a, c]);
    expect(ring.indexOf(b)).toBe(1);
    expect(ring.indexOf(key('2000000000000001'))).toBe(-1);
    expect(ring.ceilingIndex(key('2000000000000001'))).toBe(2);
    expect(ring.ceilingIndex(key('3000000000000001'))).toBe(0);
  });

  it('hands out copies of its keys', () => {
    const ring = new Ring();
    ring.add(key('1000000000000000'));
    (ring.keys() as Key[]).push(key('2000000000000000'));
    expect(ring.size).toBe(1);
  });

  it('agrees with a linear-scan model over 10,000 random inserts, bulk inserts, removes and lookups', () => {
    const random = seededRandom(20240611);
    // A narrow pool of high halves forces ties on `hi`, where the low half decides.
    const highs = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff];
    const random32 = (): number => (random() * 0x100000000) >>> 0;
    const randomKey = (): Key =>
      new Key(random() < 0.5 ? highs[Math.floor(random() * highs.length)] : random32(), random32());
    const pick = (keys: Key[]): Key => keys[Math.floor(random() * keys.length)];

    const ring = new Ring();
    const model: Key[] = [];
    const mismatches: string[] = [];
    for (let step = 0; step < 10_000; step++) {
      const choice = random();
      if (choice < 0.01) {
        // Bulk: past addAll's threshold, with members and repeats among the new keys.
        const keys = Array.from({ length: 40 }, () => (random() < 0.2 && model.length > 0 ? pick(model) : randomKey()));
        const added = ring.addAll(keys);
        const expected = keys.filter((k, i) => !model.some((m) => m.equals(k)) && keys.findIndex((o) => o.equals(k)) === i);
        if (added.length !== expected.length) mismatches.push(`step ${step}: addAll added ${added.length}, expected ${expected.length}`);
        model.push(...expected);
      } else if (choice < 0.4) {
        const k = random() < 0.1 && model.length > 0 ? pick(model) : randomKey();
        const isNew = !model.some((m) => m.equals(k));
        if (ring.add(k) !== isNew) mismatches.push(`step ${step}: add ${k} should return ${isNew}`);
        if (isNew) model.push(k);
      } else if (choice < 0.6) {
        const k = random() < 0.7 && model.length > 0 ? pick(model) : randomKey();
        const at = model.findIndex((m) => m.equals(k));
        if (ring.remove(k) !== at >= 0) mismatches.push(`step ${step}: remove ${k} should return ${at >= 0}`);
        if (at >= 0) model.splice(at, 1);
      } else {
        const p = random() < 0.2 && model.length > 0 ? pick(model) : randomKey();
        const expected = naiveOwner(model, p);
        if (ring.ownerOf(p) !== expected) mismatches.push(`step ${step}: owner of ${p} should be ${expected}`);
        if (ring.has(p) !== model.some((m) => m.equals(p))) mismatches.push(`step ${step}: has ${p}`);
      }
      if (ring.size !== model.length) mismatches.push(`step ${step}: size ${ring.size}, model ${model.length}`);
      if (mismatches.length > 10) break;
    }
    expect(mismatches).toEqual([]);
    expect(ring.keys()).toEqual([...model].sort((x, y) => x.compare(y)));
    expect(model.length).toBeGreaterThan(100);
  });
});

describe('Ring.addAll', () => {
  const randomKeys = (seed: number, n: number): Key[] => {
    const random = seededRandom(seed);
    return Array.from({ length: n }, () => new Key((random() * 2 ** 32) >>> 0, (random() * 2 ** 32) >>> 0));
  };

  it.each([10, 1_000])('ends in the same ring as adding %i keys one by one, and returns only the new ones', (n) => {
    const existing = randomKeys(7, 50);
    const incoming = [...randomKeys(8, n), ...existing.slice(0, 10), ...randomKeys(8, 5)]; // repeats and members
    const one = new Ring();
    const bulk = new Ring();
    for (const key of existing) {
      one.add(key);
      bulk.add(key);
    }
    const addedOne = incoming.filter((key) => one.add(key));
    const addedBulk = bulk.addAll(incoming);

    expect(bulk.keys().map(String)).toEqual(one.keys().map(String));
    expect(addedBulk.map(String)).toEqual(addedOne.map(String));
  });

  it('takes 65,536 keys in one call and keeps them sorted', () => {
    const ring = new Ring();
    expect(ring.addAll(randomKeys(9, 65_536))).toHaveLength(65_536);
    const keys = ring.keys();
    expect(keys).toHaveLength(65_536);
    expect(keys.every((key, i) => i === 0 || keys[i - 1].compare(key) < 0)).toBe(true);
  });
});

describe('Ring.removals', () => {
  it('counts the members removed, and nothing else', () => {
    const ring = new Ring();
    const [a, b, c] = [new Key(1, 1), new Key(2, 2), new Key(3, 3)];
    ring.addAll([a, b]);
    ring.add(c);
    expect(ring.removals).toBe(0);
    expect(ring.remove(new Key(9, 9))).toBe(false);
    expect(ring.removals).toBe(0);
    ring.remove(b);
    ring.remove(b);
    expect(ring.removals).toBe(1);
  });
});
