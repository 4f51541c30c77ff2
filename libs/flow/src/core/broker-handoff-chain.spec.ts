import { chainOfThree, Journal } from '../../test/journal';
import { findKey, ownerAmong, positionsOf } from '../../test/ownership-probes';
import { createMemoryClique, MemoryClique } from '../testing/clique';
import { ManualClock } from '../testing/manual-clock';
import { waitFor } from '../testing/wait-for';
import { Broker } from './broker';
import { MemoryBus } from './memory-pubsub';

const utf8 = new TextEncoder();


describe('handoff across queue-group traffic: restarts, joins and chains of moves', () => {
  let clique: MemoryClique | undefined;
  afterEach(async () => {
    await clique?.close();
    clique = undefined;
  });

  it('a broker restarted under the same node name has its forwards run, not answered from the window of its previous incarnation', async () => {
    const bus = new MemoryBus();
    const clock = new ManualClock();
    const options = { clock, virtualNodes: 4, stabilization: { interval: 0 } };
    const journal = new Journal();
    const owner = new Broker(bus.connect('owner'), { ...options, nodeName: 'owner' });
    await owner.handle('orders', journal.handler('owner'));
    await owner.start();
    const start = async (): Promise<Broker> => {
      const broker = new Broker(bus.connect('sender'), { ...options, nodeName: 'sender' });
      await broker.handle('orders', journal.handler('sender'));
      await broker.start();
      await bus.idle();
      return broker;
    };
    const first = await start();
    const key = findKey((k) => positionsOf(owner).has(String(first.ownerOf(k))));
    // The first incarnation sends enough that its ids cover the second's first ones.
    for (let i = 0; i < 40; i++) await first.publish('orders', utf8.encode(`first-${i}`), { key });
    await bus.idle();
    await first.shutdown();
    await bus.idle();
    clock.advance(1_000);

    const second = await start();
    expect(second.ownerOf(key)).toEqual(owner.ownerOf(key));
    for (let i = 0; i < 40; i++) await second.publish('orders', utf8.encode(`second-${i}`), { key });
    await bus.idle();
    const ran = journal.lines.filter((line) => line.startsWith('owner end second-'));
    expect(ran).toHaveLength(40);
    expect(owner.counters.duplicates).toBe(0);
    await second.close();
    await owner.close();
  });

  it('a joiner learns the ring from a member before owning, and waits for the key its previous owner runs', async () => {
    const journal = new Journal();
    clique = await createMemoryClique({
      size: 2,
      start: false,
      options: { virtualNodes: 8, stabilization: { interval: 0 } },
      setup: (broker, i) => broker.handle('orders', journal.handler(`b${i}`)),
    });
    const [a, b] = clique.brokers;
    await a.start();
    await clique.bus.idle();
    // A key a owns alone now and b takes when it joins (b's positions are known from its node key before it starts).
    const key = findKey((k) => {
      const owner = a.ownerOf(k)!;
      return positionsOf(a).has(String(owner)) && !positionsOf(a).has(String(ownerAmong(k, a, b)));
    });
    const gate = journal.gate('m1');
    await a.publish('orders', utf8.encode('m1'), { key });
    await clique.bus.idle();
    await b.start();
    await clique.bus.idle();
    expect(b.snapshot().members).toHaveLength(16);
    await a.publish('orders', utf8.encode('m2'), { key });
    await clique.bus.idle();
    expect(journal.lines).toEqual(['b0 start m1']);
    gate.open();
    await waitFor(() => journal.lines.length === 4, { bus: clique.bus, what: 'm2 handled' });
    expect(journal.lines).toEqual(['b0 start m1', 'b0 end m1', 'b1 start m2', 'b1 end m2']);
  });

  it('a key that moves on before its first owner drained waits for that owner, through the broker in between', async () => {
    // Owned by x; once x left, by y; once y left too, by z (the only one left).
    const chain = await chainOfThree();
    clique = chain.clique;
    const { journal, x, y, z, key, gate } = chain;
    expect(journal.lines).toEqual(['b0 start m1']);

    const xLeaving = x.shutdown();
    await clique.bus.idle();
    await z.publish('orders', utf8.encode('m2'), { key, ack: false });
    await clique.bus.idle();
    // y owns the key now and holds m2 for x.
    expect(positionsOf(y).has(String(z.ownerOf(key)))).toBe(true);
    const yLeaving = y.shutdown();
    await clique.bus.idle();
    await z.publish('orders', utf8.encode('m3'), { key, ack: false });
    await clique.bus.idle();
    // z owns it now: m2 and m3 wait, as x still runs m1.
    expect(positionsOf(z).has(String(z.ownerOf(key)))).toBe(true);
    expect(journal.lines).toEqual(['b0 start m1']);

    gate.open();
    await xLeaving;
    await yLeaving;
    await waitFor(() => journal.lines.length === 6, { bus: clique.bus, what: 'm2 and m3 handled' });
    // Nothing ran on z before x finished m1. (m2 left y's hold when y retired and may come to z after m3: not asserted.)
    expect(journal.lines.slice(0, 2)).toEqual(['b0 start m1', 'b0 end m1']);
    expect(journal.lines.slice(2).sort()).toEqual(['b2 end m2', 'b2 end m3', 'b2 start m2', 'b2 start m3']);
    expect(clique.brokers.map((broker) => broker.counters.handoffsAbandoned)).toEqual([0, 0, 0]);
  });
});



