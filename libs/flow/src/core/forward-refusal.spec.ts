import { createMemoryClique, MemoryClique } from '../testing/clique';
import { waitFor } from '../testing/wait-for';

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
});
