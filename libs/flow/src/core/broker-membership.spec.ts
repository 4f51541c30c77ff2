import { createMemoryClique, MemoryClique } from '../testing/clique';
import { loadGoVectors } from '../../test/go-vectors';
import { ManualClock } from '../testing/manual-clock';
import { seededRandom } from '../testing/seeded-random';
import { waitFor } from '../testing/wait-for';
import { Broker } from './broker';
import { Key } from './key';
import { BrokerOptions } from './options';

const VIRTUAL_NODES = 4;
const ACK_TIMEOUT = 50;
const INTERVAL = 100;

const noop = (): void => undefined;
const handleOrders = (broker: Broker): Promise<void> => broker.handle('orders', noop);
const text = (keys: readonly Key[]): string[] => keys.map(String);

/** Every broker's ring, as text, for comparisons that print readably. */
const rings = (brokers: readonly Broker[]): string[][] => brokers.map((b) => text(b.snapshot().members));

function quietOptions(extra: BrokerOptions = {}): BrokerOptions {
  return { virtualNodes: VIRTUAL_NODES, stabilization: { interval: 0 }, ...extra };
}

describe('broker membership', () => {
  let clique: MemoryClique | undefined;
  afterEach(async () => {
    await clique?.close();
    clique = undefined;
  });

  const permutations = [
    [0, 1, 2, 3, 4],
    [4, 3, 2, 1, 0],
    ...[1, 2, 3].map((seed) => seededRandom(seed).shuffle([0, 1, 2, 3, 4])),
  ];

  it.each(permutations.map((order) => [order]))('converges 5 brokers to one ring when they start in the order %j', async (order) => {
    clique = await createMemoryClique({ size: 5, options: quietOptions(), setup: handleOrders, startOrder: order });
    await clique.bus.idle();

    const expected = text(clique.expectedMembers());
    expect(expected).toHaveLength(5 * VIRTUAL_NODES);
    expect(new Set(expected).size).toBe(5 * VIRTUAL_NODES);
    expect(rings(clique.brokers)).toEqual(Array(5).fill(expected));
    for (const broker of clique.brokers) expect(broker.snapshot().joined).toBe(true);
  });

  it('converges when all 5 brokers start at the same time', async () => {
    clique = await createMemoryClique({ size: 5, options: quietOptions(), setup: handleOrders, start: false });
    await Promise.all(clique.brokers.map((b) => b.start()));
    await clique.bus.idle();

    expect(rings(clique.brokers)).toEqual(Array(5).fill(text(clique.expectedMembers())));
    expect(clique.expectedMembers()).toHaveLength(5 * VIRTUAL_NODES);
  });

  it('emits joined once for every position of every other broker', async () => {
    clique = await createMemoryClique({ size: 5, options: quietOptions(), setup: handleOrders, start: false });
    const joined = clique.brokers.map(() => [] as string[]);
    clique.brokers.forEach((b, i) => b.on('joined', (key) => joined[i].push(String(key))));
    for (const broker of clique.brokers) await broker.start();
    await clique.bus.idle();

    clique.brokers.forEach((broker, i) => {
      const others = clique!.brokers.filter((b) => b !== broker).flatMap((b) => text(b.snapshot().positions));
      expect(joined[i].sort()).toEqual(others.sort());
    });
  });

  it('joins on the first handler registered after start, and not before', async () => {
    clique = await createMemoryClique({ size: 3, options: quietOptions(), setup: (b, i) => (i < 2 ? handleOrders(b) : undefined) });
    await clique.bus.idle();
    const late = clique.brokers[2];
    // Not a member yet; its members are the ring it sees as a publisher (broker-direct.spec.ts).
    expect(late.snapshot()).toMatchObject({ joined: false, positions: [] });
    expect(late.ownerOf('customer-1')).toBeUndefined();
    expect(clique.brokers[0].snapshot().members).toHaveLength(2 * VIRTUAL_NODES);

    await late.handle('orders', noop);
    await clique.converged();
    expect(clique.brokers[0].snapshot().members).toHaveLength(3 * VIRTUAL_NODES);
  });

  it('in go-flow mode with one virtual node, builds exactly the ring of Go flow and agrees with its owners', async () => {
    const vectors = loadGoVectors().ring;
    clique = await createMemoryClique({
      size: vectors.nodes.length,
      options: (i) => ({ nodeName: vectors.nodes[i].node, partitionHash: 'go-flow', virtualNodes: 1, stabilization: { interval: 0 } }),
      setup: handleOrders,
      startOrder: [2, 0, 4, 1, 3],
    });
    await clique.bus.idle();

    const goRing = vectors.nodes.map((n) => n.key).sort();
    expect(rings(clique.brokers)).toEqual(Array(vectors.nodes.length).fill(goRing));
    const nameOf = new Map(vectors.nodes.map((n) => [n.key, n.node]));
    for (const broker of clique.brokers) {
      expect(broker.snapshot().positions).toEqual([broker.nodeKey]);
      for (const { partitionKey, owner } of vectors.owners) expect(nameOf.get(String(broker.ownerOf(partitionKey)))).toBe(owner);
    }
  });

  it('removes a closing broker from every other ring, with one left event per position', async () => {
    clique = await createMemoryClique({ size: 5, options: quietOptions(), setup: handleOrders });
    await clique.converged();
    const leaving = clique.brokers[3];
    const leavingPositions = text(leaving.snapshot().positions).sort();
    const stayers = clique.brokers.filter((b) => b !== leaving);
    const left = stayers.map(() => [] as string[]);
    stayers.forEach((b, i) => b.on('left', (key) => left[i].push(String(key))));

    await clique.leave(3);
    await clique.bus.idle();

    for (const events of left) expect(events.sort()).toEqual(leavingPositions);
    const expected = text(clique.expectedMembers());
    expect(expected).toHaveLength(4 * VIRTUAL_NODES);
    expect(rings(stayers)).toEqual(Array(4).fill(expected));
  });

  /**
   * Crash detection, timed with a manual clock so that elapsed time is exact.
   * The brokers start 20 ms apart, so their stabilization rounds are staggered
   * as they are in production (aligned rounds would hide re-learning, below).
   *
   * Bound: the crash happens at t0; every survivor's next round is due within
   * one interval and PINGs every crashed position (stabilizers >= remote
   * positions); each unanswered PING suspects its target after ackTimeout and
   * PINGs the member that now follows it, so a run of k adjacent crashed
   * positions costs at most k ackTimeouts. Hence ackTimeout * k + interval,
   * plus one more interval as slack: ackTimeout * k + 2 * interval.
   */
  async function crashAndTime(virtualNodes: number): Promise<{ elapsed: number; relearned: number; suspected: string[][]; crashedPositions: string[] }> {
    const clock = new ManualClock();
    const c = await createMemoryClique({
      size: 5,
      options: {
        virtualNodes,
        ackTimeout: ACK_TIMEOUT,
        clock,
        stabilization: { interval: INTERVAL, stabilizers: 5 * virtualNodes },
      },
      setup: handleOrders,
      start: false,
    });
    clique = c;
    for (const broker of c.brokers) {
      await broker.start();
      await c.bus.idle();
      clock.advance(INTERVAL / 5);
    }
    await c.converged();
    const crashedPositions = text(c.brokers[1].snapshot().positions);
    const survivors = c.brokers.filter((_, i) => i !== 1);
    const suspected = survivors.map(() => [] as string[]);
    let relearned = 0;
    survivors.forEach((b, i) => {
      // The first survivor to find it dead broadcasts LEAV for its positions: the others see them leave.
      b.on('suspected', (key) => suspected[i].push(String(key)));
      b.on('left', (key) => suspected[i].push(String(key)));
      b.on('joined', (key) => {
        if (crashedPositions.includes(String(key))) relearned++;
      });
    });

    const t0 = clock.now();
    c.crash(1);
    const gone = (): boolean => survivors.every((b) => !text(b.snapshot().members).some((k) => crashedPositions.includes(k)));
    const limit = 10 * INTERVAL;
    const finished = await waitFor(gone, { bus: c.bus, clock, stepMs: 5, timeoutMs: limit }).then(
      () => true,
      () => false,
    );
    return { elapsed: finished ? clock.now() - t0 : Infinity, relearned, suspected, crashedPositions };
  }

  it('removes a crashed broker from every other ring within k ackTimeouts and two stabilization intervals', async () => {
    const { elapsed, suspected, crashedPositions } = await crashAndTime(VIRTUAL_NODES);

    expect(elapsed).toBeLessThanOrEqual(ACK_TIMEOUT * VIRTUAL_NODES + 2 * INTERVAL);
    for (const keys of suspected) expect(new Set(keys)).toEqual(new Set(crashedPositions));
    expect(clique!.isConverged()).toBe(true);
  });

  it('removes a crashed Go-identical broker (one virtual node) within ackTimeout and two stabilization intervals', async () => {
    const { elapsed, relearned } = await crashAndTime(1);

    expect(elapsed).toBeLessThanOrEqual(ACK_TIMEOUT + 2 * INTERVAL);
    expect(relearned).toBe(0);
  });

  it('keeps a publisher-only broker off every ring', async () => {
    clique = await createMemoryClique({ size: 3, options: quietOptions(), setup: (b, i) => (i < 2 ? handleOrders(b) : undefined) });
    await clique.converged();
    const publisher = clique.brokers[2];

    expect(publisher.snapshot()).toMatchObject({ joined: false, positions: [] });
    const publisherPositions = new Set([String(publisher.nodeKey)]);
    for (const b of clique.brokers.slice(0, 2)) {
      expect(b.snapshot().members).toHaveLength(2 * VIRTUAL_NODES);
      expect(text(b.snapshot().members).filter((k) => publisherPositions.has(k))).toEqual([]);
    }
  });

  it('keeps cliques with different names apart on one bus', async () => {
    clique = await createMemoryClique({
      size: 4,
      options: (i) => quietOptions({ clique: i < 2 ? 'left-clique' : 'right-clique', nodeName: `n${i}` }),
      setup: handleOrders,
    });
    await clique.bus.idle();
    const [a, b, c, d] = clique.brokers;
    const ringOf = (...brokers: Broker[]): string[] => text(brokers.flatMap((x) => x.snapshot().positions)).sort();
    expect(rings([a, b])).toEqual([ringOf(a, b), ringOf(a, b)]);
    expect(rings([c, d])).toEqual([ringOf(c, d), ringOf(c, d)]);
    expect(a.snapshot().clique).toBe('left-clique');
  });
});
