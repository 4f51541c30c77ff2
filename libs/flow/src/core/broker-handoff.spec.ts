import { Gate } from '../../test/gate';
import { createMemoryClique, MemoryClique } from '../testing/clique';
import { Broker } from './broker';
import { Delivery } from './delivery';

const utf8 = new TextDecoder();

/** What each broker ran, in order: `<broker> start|end <payload>`. */
interface Journal {
  readonly lines: string[];
  gates: Map<string, Gate>;
}

function journaling(journal: Journal, name: string) {
  return async (delivery: Delivery): Promise<void> => {
    const payload = utf8.decode(delivery.data);
    journal.lines.push(`${name} start ${payload}`);
    await journal.gates.get(payload)?.opened;
    journal.lines.push(`${name} end ${payload}`);
  };
}

/** Keys (key-0, key-1, ...) whose owner in `broker`'s view is a position of `owner`. */
function keysOwnedBy(broker: Broker, owner: Broker, count: number): string[] {
  const positions = new Set(owner.snapshot().positions.map(String));
  const keys: string[] = [];
  for (let n = 0; keys.length < count && n < 10_000; n++) if (positions.has(String(broker.ownerOf(`key-${n}`)))) keys.push(`key-${n}`);
  return keys;
}

describe('handoff between live brokers', () => {
  let clique: MemoryClique | undefined;
  afterEach(async () => {
    await clique?.close();
    clique = undefined;
  });

  it('graceful leave: a moved key waits for the old owner to finish it, other moved keys run at once', async () => {
    const journal: Journal = { lines: [], gates: new Map() };
    clique = await createMemoryClique({
      size: 2,
      options: { virtualNodes: 8, stabilization: { interval: 0 } },
      setup: (broker, i) => broker.handle('orders', journaling(journal, `b${i}`)),
    });
    const [a, b] = clique.brokers;
    const [busy, idle] = keysOwnedBy(a, b, 2);
    const gate = new Gate();
    journal.gates.set('busy-1', gate);
    await a.publish('orders', new TextEncoder().encode('busy-1'), { key: busy });
    await clique.bus.idle();
    expect(journal.lines).toEqual(['b1 start busy-1']);

    const leaving = b.shutdown();
    await clique.bus.idle();
    await a.publish('orders', new TextEncoder().encode('busy-2'), { key: busy });
    await a.publish('orders', new TextEncoder().encode('idle-1'), { key: idle });
    await clique.bus.idle();
    // The key with no work in flight moved at once; the busy one waits for b.
    expect(journal.lines).toEqual(['b1 start busy-1', 'b0 start idle-1', 'b0 end idle-1']);

    gate.open();
    await leaving;
    await clique.bus.idle();
    expect(journal.lines).toEqual(['b1 start busy-1', 'b0 start idle-1', 'b0 end idle-1', 'b1 end busy-1', 'b0 start busy-2', 'b0 end busy-2']);
    expect(a.counters.handoffsAbandoned).toBe(0);
  });
});
