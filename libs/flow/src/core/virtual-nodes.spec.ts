import { seededRandom } from '../testing/seeded-random';
import { Key, keyFromBytes, keyFromString, parseKey } from './key';
import { DEFAULTS } from './options';
import { Ring } from './ring';
import { ringPositions } from './virtual-nodes';

const RING_SIZE = 1n << 64n;

/** Share of `keys` random partitions owned by each of `nodeKeys`, on a ring of their positions. */
function shares(nodeKeys: readonly Key[], virtualNodes: number, keys: number, seed: number): number[] {
  const ring = new Ring();
  const ownerIndex = new Map<string, number>();
  nodeKeys.forEach((nodeKey, i) => {
    for (const position of ringPositions(nodeKey, virtualNodes)) {
      ring.add(position);
      ownerIndex.set(position.toString(), i);
    }
  });
  const random = seededRandom(seed);
  const counts = nodeKeys.map(() => 0);
  for (let n = 0; n < keys; n++) counts[ownerIndex.get(ring.ownerOf(keyFromBytes(random.bytes(16)))!.toString())!]++;
  return counts.map((c) => c / keys);
}

describe('ringPositions', () => {
  const nodeKey = keyFromString('node-1');

  it('places a broker with one virtual node at its node key, as Go flow does', () => {
    expect(ringPositions(nodeKey, 1)).toEqual([nodeKey]);
    expect(ringPositions(parseKey('0000000000000000'), 1)).toEqual([parseKey('0000000000000000')]);
  });

  it('derives the same positions from the same node key every time', () => {
    expect(ringPositions(nodeKey, 64).map(String)).toEqual(ringPositions(keyFromString('node-1'), 64).map(String));
  });

  it('derives different positions for different node keys', () => {
    const a = new Set(ringPositions(keyFromString('node-1'), 64).map(String));
    const b = ringPositions(keyFromString('node-2'), 64).map(String);
    expect(b.filter((p) => a.has(p))).toEqual([]);
  });

  it.each([2, 4, 16, DEFAULTS.virtualNodes, 4096])('returns %i distinct positions', (count) => {
    const positions = ringPositions(nodeKey, count);
    expect(positions).toHaveLength(count);
    expect(new Set(positions.map(String)).size).toBe(count);
  });

  it('puts position i in the i-th of count equal strata of the ring', () => {
    const count = 16;
    const width = RING_SIZE / BigInt(count);
    ringPositions(nodeKey, count).forEach((position, i) => {
      expect(position.toBigInt() / width).toBe(BigInt(i));
    });
  });

  it('keeps a broker within 1.10 x the mean share among 3 named brokers at the default virtual nodes', () => {
    const nodeKeys = ['node-1', 'node-2', 'node-3'].map((name) => keyFromString(name));
    const measured = shares(nodeKeys, DEFAULTS.virtualNodes, 100_000, 42);
    const maxOverMean = Math.max(...measured) * nodeKeys.length;
    expect(measured.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 10);
    expect(maxOverMean).toBeLessThanOrEqual(1.1);
  });

  it('spreads ownership less evenly with one virtual node than with the default', () => {
    const nodeKeys = ['node-1', 'node-2', 'node-3'].map((name) => keyFromString(name));
    const single = Math.max(...shares(nodeKeys, 1, 20_000, 42)) * 3;
    const many = Math.max(...shares(nodeKeys, DEFAULTS.virtualNodes, 20_000, 42)) * 3;
    expect(single).toBeGreaterThan(many);
  });
});
