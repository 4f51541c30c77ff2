import { createMemoryClique, MemoryClique } from '../testing/clique';
import { ManualClock } from '../testing/manual-clock';
import { waitFor } from '../testing/wait-for';
import { DefaultCodec } from './codec';
import type { FlowError } from './errors';
import { fwdSize } from './frame';
import { MemoryBus } from './memory-pubsub';
import { NOTICES_TRAILER } from './publish-wire';

describe('a forward its owner refuses', () => {
  let clique: MemoryClique | undefined;
  afterEach(async () => {
    await clique?.close();
    clique = undefined;
  });

  it('settles at the forwarding broker with the refusal (counted as answered), instead of being re-sent forever', async () => {
    clique = await createMemoryClique({
      size: 2,
      options: { virtualNodes: 8, stabilization: { interval: 0 } },
      // Only a handles 'orders'; b owns half the keys but has no handler for that stream.
      setup: (broker, i) => (i === 0 ? broker.handle('orders', () => undefined) : broker.handle('payments', () => undefined)),
    });
    const [a, b] = clique.brokers;
    const positions = new Set(b.snapshot().positions.map(String));
    const key = Array.from({ length: 1000 }, (_, n) => `k-${n}`).find((k) => positions.has(String(a.ownerOf(k)))) as string;
    // From b, 'orders' goes through the queue group (b handles no such stream): a takes it and forwards to b.
    await b.publish('orders', new Uint8Array(1), { key });
    await waitFor(() => a.counters.forwarded > 0 && a.load.forwardsInFlight === 0, { bus: clique.bus, what: 'the forward to settle' });
    expect(a.counters.acked).toBe(a.counters.forwarded);
    expect(a.counters.retried).toBe(0);
    expect(a.counters.dropped).toBe(1);
  });

  it("drops a foreign message whose FWD would exceed the bus's max payload: counted and reported, and its owner not taken for dead", async () => {
    const clock = new ManualClock();
    const errors: FlowError[] = [];
    clique = await createMemoryClique({
      size: 2,
      bus: new MemoryBus({ maxPayload: 1024 }),
      options: { virtualNodes: 8, stabilization: { interval: 0 }, ackTimeout: 100, clock, onError: (error) => void errors.push(error) },
      setup: (broker) => broker.handle('orders', () => undefined),
    });
    const [a, b] = clique.brokers;
    await clique.converged();
    const positions = new Set(b.snapshot().positions.map(String));
    const key = Array.from({ length: 1000 }, (_, n) => `k-${n}`).find((k) => positions.has(String(a.ownerOf(k)))) as string;
    const partitionKey = new TextEncoder().encode(key);
    // The largest message a plain NATS client can send that still fits as a stream message, but not as a FWD.
    const codec = new DefaultCodec();
    let length = 1024;
    while (codec.encode({ stream: 'orders', partitionKey, data: new Uint8Array(length) }).length > 1024) length--;
    const data = new Uint8Array(length);
    expect(fwdSize({ id: 0, reply: '', stream: 'orders', partitionKey, data }, NOTICES_TRAILER)).toBeGreaterThan(1024);
    // The queue group gives it to a, which does not own the key.
    clique.bus.setFault((d) => (d.subject === 'orders' && d.to === 'broker-1' ? 'drop' : 'deliver'));
    clique.bus.connect('foreign').publish('orders', codec.encode({ stream: 'orders', partitionKey, data }));
    await clique.bus.idle();
    for (let i = 0; i < 10; i++) {
      clock.advance(100);
      await clique.bus.idle();
    }
    expect(a.counters).toMatchObject({ received: 1, forwarded: 0, dropped: 1, retried: 0 });
    expect(errors).toEqual([expect.objectContaining({ name: 'TransportError', message: expect.stringContaining('cannot forward a message on "orders"') })]);
    expect(a.snapshot().members).toHaveLength(16);
  });
});
