import { createMemoryClique, MemoryClique } from '../testing/clique';
import { Broker } from './broker';
import { Delivery } from './delivery';
import { Key } from './key';
import { Interval, KeyRange, MAX_HASH, normalize, ownedIntervals, subtract, toIntervals, toRanges } from './key-ranges';
import { OwnershipChange } from './ownership';

const k = (n: bigint): Key => new Key(Number(n >> 32n), Number(n & 0xffffffffn));
const WHOLE: Interval[] = [{ lo: 0n, hi: MAX_HASH }];

/** Every range of the changes, as one normalized interval set. */
const union = (changes: readonly OwnershipChange[]): Interval[] => toIntervals(changes.flatMap((change) => change.ranges as KeyRange[]));
const ownedBy = (broker: Broker): Interval[] => {
  const local = new Set(broker.snapshot().positions.map(String));
  return ownedIntervals(broker.snapshot().members, (key) => local.has(key.toString()));
};

describe('key ranges', () => {
  it('gives each local position its arc (predecessor, position], wrapping around zero', () => {
    const members = [k(10n), k(20n), k(30n)];
    expect(ownedIntervals(members, (key) => key.lo === 20)).toEqual([{ lo: 11n, hi: 20n }]);
    expect(ownedIntervals(members, (key) => key.lo === 10)).toEqual([
      { lo: 0n, hi: 10n },
      { lo: 31n, hi: MAX_HASH },
    ]);
    expect(toRanges(ownedIntervals(members, (key) => key.lo === 10))).toEqual([{ from: '000000000000001f', to: '000000000000000a' }]);
    expect(ownedIntervals(members, (key) => key.lo !== 30)).toEqual([
      { lo: 0n, hi: 20n },
      { lo: 31n, hi: MAX_HASH },
    ]);
    expect(ownedIntervals([k(5n)], () => true)).toEqual(WHOLE);
  });

  it('subtracts and round-trips ranges', () => {
    expect(subtract(WHOLE, [{ lo: 5n, hi: 9n }])).toEqual([
      { lo: 0n, hi: 4n },
      { lo: 10n, hi: MAX_HASH },
    ]);
    expect(subtract([{ lo: 0n, hi: 9n }], [{ lo: 0n, hi: 9n }])).toEqual([]);
    const parts = normalize([
      { lo: 40n, hi: MAX_HASH },
      { lo: 0n, hi: 3n },
      { lo: 7n, hi: 8n },
    ]);
    expect(toIntervals(toRanges(parts))).toEqual(parts);
  });
});

describe('broker ownership', () => {
  let clique: MemoryClique | undefined;
  afterEach(async () => {
    await clique?.close();
    clique = undefined;
  });

  it('a joining broker acquires exactly what the others release; epochs increase; isOwner flips for a moved key', async () => {
    const handled: Delivery[][] = [[], [], []];
    clique = await createMemoryClique({
      size: 3,
      options: { virtualNodes: 8, stabilization: { interval: 0 } },
      setup: (broker, i) => broker.handle('orders', (delivery) => void handled[i].push(delivery)),
      start: false,
    });
    const [a, b, c] = clique.brokers;
    const events = clique.brokers.map((broker) => {
      const log = { acquired: [] as OwnershipChange[], released: [] as OwnershipChange[] };
      broker.on('acquired', (change) => log.acquired.push(change));
      broker.on('released', (change) => log.released.push(change));
      return log;
    });
    await a.start();
    await b.start();
    await clique.bus.idle();
    await Promise.resolve();
    // Two brokers split the whole ring.
    expect(normalize([...ownedBy(a), ...ownedBy(b)])).toEqual(WHOLE);
    expect(subtract(ownedBy(a), subtract(ownedBy(a), ownedBy(b)))).toEqual([]);

    const keys = Array.from({ length: 60 }, (_, n) => `key-${n}`);
    for (const key of keys) await a.publish('orders', new Uint8Array(0), { key });
    await clique.bus.idle();
    const before = [...handled[0], ...handled[1]];
    expect(before).toHaveLength(keys.length);
    for (const delivery of before) expect(delivery.ownership.isOwner(delivery.partition as Key)).toBe(true);
    const epochsBefore = [a, b].map((_, i) => events[i].acquired.at(-1)?.epoch ?? 0);
    for (const log of events) log.acquired.length = log.released.length = 0;

    await c.start();
    await clique.bus.idle();
    await Promise.resolve();

    // a and b only released, and together exactly what c owns now.
    expect(events[0].acquired).toEqual([]);
    expect(events[1].acquired).toEqual([]);
    expect(normalize([...union(events[0].released), ...union(events[1].released)])).toEqual(ownedBy(c));
    expect(normalize([...ownedBy(a), ...ownedBy(b), ...ownedBy(c)])).toEqual(WHOLE);
    // c's net gain (acquired minus released afterwards) is what it owns.
    expect(subtract(union(events[2].acquired), union(events[2].released))).toEqual(ownedBy(c));
    for (const i of [0, 1]) for (const change of events[i].released) expect(change.epoch).toBeGreaterThan(epochsBefore[i]);

    const moved = before.filter((delivery) => ownedBy(c).some(contains(delivery.partition as Key)));
    const stayed = before.filter((delivery) => !moved.includes(delivery));
    expect(moved.length).toBeGreaterThan(0);
    expect(stayed.length).toBeGreaterThan(0);
    for (const delivery of moved) expect(delivery.ownership.isOwner(delivery.partition as Key)).toBe(false);
    for (const delivery of stayed) expect(delivery.ownership.isOwner(delivery.partition as Key)).toBe(true);

    for (const delivery of moved) await a.publish('orders', new Uint8Array(0), { key: delivery.partitionKey });
    await clique.bus.idle();
    expect(handled[2]).toHaveLength(moved.length);
    const lastAcquired = events[2].acquired.map((change) => change.epoch);
    for (const delivery of handled[2]) {
      expect(lastAcquired).toContain(delivery.epoch);
      expect(delivery.ownership.isOwner(delivery.partition as Key)).toBe(true);
    }

    // Graceful leave: c releases all it owns (awaited before it closes), a and b acquire exactly that.
    for (const log of events) log.acquired.length = log.released.length = 0;
    const owned = ownedBy(c);
    let flushed = false;
    c.on('released', () => new Promise<void>((resolve) => setImmediate(() => resolve(void (flushed = true)))));
    await c.shutdown();
    expect(flushed).toBe(true);
    expect(union(events[2].released)).toEqual(owned);
    await clique.bus.idle();
    await Promise.resolve();
    expect(normalize([...union(events[0].acquired), ...union(events[1].acquired)])).toEqual(owned);
    expect(events[0].released).toEqual([]);
    expect(events[1].released).toEqual([]);
  });
});

function contains(partition: Key): (part: Interval) => boolean {
  const p = partition.toBigInt();
  return (part) => p >= part.lo && p <= part.hi;
}
