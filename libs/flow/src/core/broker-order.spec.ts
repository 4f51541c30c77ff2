import { seq, readSeq, fromUtf8 } from '../../test/sequence';
import { createMemoryClique, MemoryClique } from '../testing/clique';
import { seededRandom } from '../testing/seeded-random';
import { waitFor } from '../testing/wait-for';
import { Delivery } from './broker';
import { DefaultCodec } from './codec';
import { FlowError, OverloadedError } from './errors';
import { decodeFrame, FrameType } from './frame';
import { BrokerOptions } from './options';

/** Runs of thousands of messages: ample for a loaded CI machine, still bounded. */
const SLOW_TEST_MS = 30_000;



/** An async handler's work: `turns` trips through the macrotask queue, no timers. */
async function busy(turns: number): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

const MESSAGES = 2_000;
const KEYS = 40;

describe('broker per-key order and bounds', () => {
  let clique: MemoryClique | undefined;
  afterEach(async () => {
    await clique?.close();
    clique = undefined;
  });

  /**
   * 3 handler brokers and a publisher-only broker (index 3). Each handler
   * takes a seeded random number of event-loop turns and records what ran.
   */
  async function orderClique(options: BrokerOptions = {}) {
    const random = seededRandom(11);
    const seen = new Map<string, number[]>();
    const running = [0, 0, 0];
    const maxRunning = [0, 0, 0];
    const runningPerKey = new Map<string, number>();
    /** Per broker and slot: the guarantee is per broker (each broker owns different keys). */
    const runningPerSlot = new Map<string, number>();
    let maxPerKey = 0;
    let maxPerSlot = 0;
    let maxSlotsAtOnce = 0;
    let done = 0;
    const handler = (i: number) => async (d: Delivery) => {
      const key = fromUtf8(d.partitionKey);
      running[i]++;
      maxRunning[i] = Math.max(maxRunning[i], running[i]);
      runningPerKey.set(key, (runningPerKey.get(key) ?? 0) + 1);
      maxPerKey = Math.max(maxPerKey, runningPerKey.get(key)!);
      const slot = `${i}/${d.slot}`;
      if (d.slot !== undefined) {
        runningPerSlot.set(slot, (runningPerSlot.get(slot) ?? 0) + 1);
        maxPerSlot = Math.max(maxPerSlot, runningPerSlot.get(slot)!);
        maxSlotsAtOnce = Math.max(maxSlotsAtOnce, [...runningPerSlot.values()].filter((n) => n > 0).length);
      }
      push(seen, key, readSeq(d.data));
      await busy(random.int(5));
      if (d.slot !== undefined) runningPerSlot.set(slot, runningPerSlot.get(slot)! - 1);
      runningPerKey.set(key, runningPerKey.get(key)! - 1);
      running[i]--;
      done++;
    };
    clique = await createMemoryClique({
      size: 4,
      // The queue group's entry semantics: direct routing off (broker-direct.spec.ts covers it).
      options: { virtualNodes: 4, stabilization: { interval: 0 }, directRouting: false, ...options },
      setup: (broker, i) => (i < 3 ? broker.handle('orders', handler(i)) : undefined),
    });
    await clique.converged();
    return {
      seen,
      stats: () => ({ maxRunning, maxPerKey, maxPerSlot, maxSlotsAtOnce, done }),
      publisher: clique.brokers[3],
    };
  }

  /**
   * Publishes MESSAGES messages over KEYS keys; per key the sequence numbers
   * ascend. Paced by the bus every 200 messages, so that no acknowledgement
   * waits behind a backlog longer than ackTimeout (a retry would duplicate).
   */
  async function publishAll(publish: (n: number, key: string) => Promise<void>): Promise<Map<string, number[]>> {
    const published = new Map<string, number[]>();
    const random = seededRandom(5);
    for (let n = 0; n < MESSAGES; n++) {
      const key = `customer-${random.int(KEYS)}`;
      push(published, key, n);
      await publish(n, key);
      if (n % 200 === 199) await clique!.bus.idle();
    }
    return published;
  }

  // Publish order across entry brokers is not a guarantee: a message that
  // enters through the owner can overtake an earlier one still being
  // forwarded from another broker (README, "Delivery guarantees").
  it('runs each key’s messages one at a time, in the order they reach the owner', async () => {
    const { seen, stats, publisher } = await orderClique();
    // Arrival at the owner: the bus hands the owner the message itself (it
    // entered through the owner) or a FWD carrying it; record that order.
    const codec = new DefaultCodec();
    const owners = clique!.brokers.slice(0, 3).map((b) => new Set(b.snapshot().positions.map(String)));
    const arrived = new Map<string, number[]>();
    clique!.bus.setFault((delivery) => {
      const index = Number(delivery.to.replace('broker-', ''));
      let key: string | undefined;
      let data: Uint8Array | undefined;
      if (delivery.subject === 'orders') {
        const message = codec.decode('orders', delivery.data);
        [key, data] = [fromUtf8(message.partitionKey), message.data];
      } else if (delivery.subject.startsWith('_global.')) {
        const frame = decodeFrame(delivery.data);
        if (frame.type === FrameType.Fwd) [key, data] = [fromUtf8(frame.msg.partitionKey), frame.msg.data];
      }
      if (key !== undefined && data !== undefined && owners[index]?.has(String(clique!.brokers[0].ownerOf(key)))) {
        push(arrived, key, readSeq(data));
      }
      return 'deliver';
    });
    await publishAll((n, key) => publisher.publish('orders', seq(n), { key }));
    await waitFor(() => stats().done >= MESSAGES, { bus: clique!.bus, timeoutMs: 15_000 });

    expect(stats().maxPerKey).toBe(1);
    expect([...arrived.values()].flat()).toHaveLength(MESSAGES);
    const mismatched = [...arrived].filter(([key, order]) => seen.get(key)!.join() !== order.join()).map(([key]) => key);
    expect(mismatched).toEqual([]);
  }, SLOW_TEST_MS);

  it('keeps publish order per key when the publisher is the owner’s only way in', async () => {
    // A clique of one handler broker: every message enters through the owner.
    const seen = new Map<string, number[]>();
    const random = seededRandom(3);
    let done = 0;
    clique = await createMemoryClique({
      size: 2,
      options: { virtualNodes: 4, stabilization: { interval: 0 } },
      setup: (broker, i) =>
        i === 0
          ? broker.handle('orders', async (d) => {
              push(seen, fromUtf8(d.partitionKey), readSeq(d.data));
              await busy(random.int(5));
              done++;
            })
          : undefined,
    });
    const published = await publishAll((n, key) => clique!.brokers[1].publish('orders', seq(n), { key }));
    await waitFor(() => done >= MESSAGES, { bus: clique.bus, timeoutMs: 15_000 });
    expect(seen).toEqual(published);
  }, SLOW_TEST_MS);

  it('never runs more handlers at once than the concurrency limit, and reaches it', async () => {
    const { stats, publisher } = await orderClique({ concurrency: 4 });
    await publishAll((n, key) => publisher.publish('orders', seq(n), { key }));
    await waitFor(() => stats().done >= MESSAGES, { bus: clique!.bus, timeoutMs: 15_000 });

    expect(stats().maxRunning).toEqual([4, 4, 4]);
  }, SLOW_TEST_MS);

  it('never overlaps two handlers of one synchronous slot on a broker, while different slots run together', async () => {
    const { stats, publisher } = await orderClique({ syncPartitions: 4, concurrency: 16 });
    await publishAll((n, key) => publisher.publish('orders', seq(n), { key }));
    await waitFor(() => stats().done >= MESSAGES, { bus: clique!.bus, timeoutMs: 15_000 });

    expect(stats().maxPerSlot).toBe(1);
    expect(stats().maxSlotsAtOnce).toBeGreaterThan(3);
  }, SLOW_TEST_MS);

  it('reports the slot of each delivery as its partition hash modulo syncPartitions', async () => {
    const deliveries: Delivery[] = [];
    clique = await createMemoryClique({
      size: 2,
      options: { virtualNodes: 4, stabilization: { interval: 0 }, syncPartitions: 7 },
      setup: (broker) => broker.handle('orders', (d) => void deliveries.push(d)),
    });
    await clique.converged();
    for (let n = 0; n < 50; n++) await clique.brokers[0].publish('orders', seq(n), { key: `k${n}` });
    await waitFor(() => deliveries.length === 50, { bus: clique.bus });
    for (const d of deliveries) expect(d.slot).toBe(d.partition!.mod(7));
    expect(new Set(deliveries.map((d) => d.slot)).size).toBe(7);
  });

  it('drops messages beyond maxQueuedMessages, counting them and reporting an OverloadedError', async () => {
    const errors: FlowError[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let handled = 0;
    clique = await createMemoryClique({
      size: 1,
      options: { stabilization: { interval: 0 }, concurrency: 1, maxQueuedMessages: 5, directRouting: false, onError: (e) => errors.push(e) },
      setup: (broker) =>
        broker.handle('orders', async () => {
          await gate;
          handled++;
        }),
    });
    const [broker] = clique.brokers;
    for (let n = 0; n < 10; n++) await broker.publish('orders', seq(n), { key: `customer-${n}` });
    await clique.bus.idle();

    expect(broker.counters.dropped).toBe(4);
    expect(broker.inFlight).toBe(6);
    // Drops are rate limited: the first at once, the rest in one summary (sent at close at the latest).
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(OverloadedError);
    expect(errors[0]).toMatchObject({ code: 'FLOW_OVERLOADED', limit: 'maxQueuedMessages', max: 5 });
    release();
    await waitFor(() => handled === 6 && broker.inFlight === 0, { bus: clique.bus });
    expect(broker.counters).toMatchObject({ received: 10, handled: 6, dropped: 4 });
    await clique.close();
    expect(errors).toHaveLength(2);
    expect(errors[1]).toMatchObject({ code: 'FLOW_OVERLOADED' });
    expect(errors[1].message).toMatch(/^3 more like this suppressed/);
  });
});
