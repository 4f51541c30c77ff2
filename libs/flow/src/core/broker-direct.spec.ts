import { GoBrokerStandIn } from '../../test/go-broker';
import { deliveryKind, keyOwnedBy } from '../../test/ownership-probes';
import { fromUtf8, readSeq, seq } from '../../test/sequence';
import { createMemoryClique, MemoryClique } from '../testing/clique';
import { ManualClock } from '../testing/manual-clock';
import { waitFor } from '../testing/wait-for';
import { Broker, Delivery } from './broker';
import { FlowError, OverloadedError } from './errors';
import { errorReply } from './error-reply';
import { decodeFrame, encodeFrame, type FwdFrame } from './frame';
import { appendRefuser } from './publish-wire';
import { nodeSubject } from './subjects';
import { keyFromString } from './key';
import { BusDelivery } from './memory-exchange';

const utf8 = new TextEncoder();

const kindOf = (delivery: BusDelivery): string => deliveryKind(delivery, ['orders', 'quotes']);

describe('broker direct routing', () => {
  let clique: MemoryClique | undefined;
  const extra: Broker[] = [];
  afterEach(async () => {
    for (const broker of extra.splice(0)) await broker.close();
    await clique?.close();
    clique = undefined;
  });

  /** 3 brokers handling 'orders' (messages) and 'quotes' (requests), then a publisher (index 3). */
  async function directClique(handled: Map<string, number[]>, clock?: ManualClock) {
    clique = await createMemoryClique({
      size: 4,
      options: { virtualNodes: 4, stabilization: { interval: 0 }, ackTimeout: 100, clock },
      setup: (broker, i) => {
        if (i === 3) return;
        void broker.handle('orders', (d: Delivery) => {
          const key = fromUtf8(d.partitionKey);
          handled.set(key, [...(handled.get(key) ?? []), readSeq(d.data)]);
        });
        void broker.handleRequest('quotes', (d: Delivery) => utf8.encode(`quote for ${fromUtf8(d.partitionKey)}`));
      },
    });
    await clique.converged();
    const publisher = clique.brokers[3];
    await waitFor(() => publisher.snapshot().members.length === 12, { bus: clique.bus, what: 'the publisher to learn the ring' });
    return publisher;
  }

  it('lets a publisher learn the ring without joining it, and owning nothing', async () => {
    const publisher = await directClique(new Map());
    const snapshot = publisher.snapshot();
    expect(snapshot.joined).toBe(false);
    expect(snapshot.positions).toEqual([]);
    expect(snapshot.members.map(String)).toEqual(clique!.expectedMembers().map(String));
    // Members never count the publisher among themselves.
    for (const broker of clique!.brokers.slice(0, 3)) expect(broker.snapshot().members).toHaveLength(12);
  });

  it('sends a keyed publish straight to its owner: one FWD and one notice, no queue group', async () => {
    const handled = new Map<string, number[]>();
    const publisher = await directClique(handled);
    const { bus, brokers } = clique!;
    const seen: string[] = [];
    bus.setFault((delivery) => (seen.push(`${delivery.to}:${kindOf(delivery)}`), 'deliver'));
    const key = keyOwnedBy(brokers[1], brokers[0]);
    await publisher.publish('orders', seq(1), { key });
    await waitFor(() => handled.get(key)?.length === 1, { bus });
    await bus.idle();
    expect(seen).toEqual(['broker-1:FWD+flags', 'broker-3:ACK+notice']);
    expect(brokers.map((b) => b.counters.received)).toEqual([0, 0, 0, 0]);
    expect(brokers[1].counters.handled).toBe(1);
    expect(publisher.counters.viaQueueGroup).toBe(0);
  });

  it('lets owners forget publishes the publisher has settled: its floor keeps their duplicate windows at their first slots', async () => {
    const handled = new Map<string, number[]>();
    const publisher = await directClique(handled);
    const { bus, brokers } = clique!;
    const total = 6000;
    for (let n = 0; n < total; n += 200) {
      const batch: Promise<void>[] = [];
      for (let i = n; i < n + 200; i++) batch.push(publisher.publish('orders', seq(i), { key: `k${i % 50}` }));
      await Promise.all(batch);
    }
    await waitFor(() => [...handled.values()].reduce((sum, seqs) => sum + seqs.length, 0) === total, { bus, what: 'every publish handled' });
    const owners = brokers.slice(0, 3);
    // Owners that took more than 1,024 would remember them all without the floor (their windows grown past 1,024 slots).
    expect(owners.filter((b) => b.counters.handled > 2048)).not.toHaveLength(0);
    for (const owner of owners) expect(owner.load.publishesRemembered).toBeLessThanOrEqual(1024);
  });

  it('sends a keyed request straight to its owner: two NATS messages', async () => {
    const publisher = await directClique(new Map());
    const { bus, brokers } = clique!;
    const seen: string[] = [];
    bus.setFault((delivery) => (seen.push(`${delivery.to}:${kindOf(delivery)}`), 'deliver'));
    const key = keyOwnedBy(brokers[2], brokers[0]);
    const reply = await publisher.request('quotes', seq(1), { key });
    expect(fromUtf8(reply)).toBe(`quote for ${key}`);
    await bus.idle();
    expect(seen).toEqual(['broker-2:FWD+flags', 'broker-3:ACK ']);
  });

  it('keeps the queue group for unkeyed messages, with directRouting off, and while no Flow member has answered; counts the keyed ones', async () => {
    const handled = new Map<string, number[]>();
    const publisher = await directClique(handled);
    const { bus } = clique!;
    const seen: string[] = [];
    bus.setFault((delivery) => (seen.push(kindOf(delivery)), 'deliver'));
    await publisher.publish('orders', seq(1));
    await bus.idle();
    expect(seen[0]).toBe('stream:orders');
    // Unkeyed: the queue group is their path, not a fallback.
    expect(publisher.counters.viaQueueGroup).toBe(0);

    // A publisher in a clique of Go brokers only never learns the ring.
    const lonely = new Broker(bus.connect('lonely'), { clique: 'go-only', virtualNodes: 1, stabilization: { interval: 0 } });
    extra.push(lonely);
    const go = new GoBrokerStandIn(bus.connect('go'), 'go-only', keyFromString('go-1'));
    go.start();
    await lonely.start();
    await bus.idle();
    seen.length = 0;
    await lonely.publish('orders', seq(2), { key: 'k' });
    // Nobody handles 'orders' here: the queue group answers no-responders.
    await expect(lonely.request('orders', seq(2), { key: 'k' })).rejects.toMatchObject({ code: 'FLOW_NO_HANDLER' });
    await bus.idle();
    expect(seen[0]).toBe('stream:orders');
    expect(lonely.snapshot().members).toEqual([]);
    // Keyed ones without order relative to direct sends: visible (flow_publishes_via_queue_group_total).
    expect(lonely.counters.viaQueueGroup).toBe(2);
    go.close();

    const opted = new Broker(bus.connect('opted'), { directRouting: false, virtualNodes: 1, stabilization: { interval: 0 } });
    extra.push(opted);
    await opted.start();
    await bus.idle();
    seen.length = 0;
    await opted.publish('orders', seq(3), { key: 'k' });
    await bus.idle();
    expect(seen[0]).toBe('stream:orders');
    expect(opted.counters.viaQueueGroup).toBe(1);
  });

  it('ignores the late answer to its view question once it has joined (no ring growth from it, nothing reported)', async () => {
    const errors: FlowError[] = [];
    clique = await createMemoryClique({
      size: 3,
      options: { virtualNodes: 16, stabilization: { interval: 0 }, onError: (e) => errors.push(e) },
      setup: (broker, i) => (i < 2 ? broker.handle('orders', () => undefined) : undefined),
    });
    const { bus, brokers } = clique;
    await waitFor(() => brokers[2].snapshot().members.length === 32, { bus, what: 'the view' });
    // A broker that starts without handlers and registers one at once (as FlowServer does).
    const late = new Broker(bus.connect('late'), { virtualNodes: 16, stabilization: { interval: 0 }, onError: (e) => errors.push(e) });
    extra.push(late);
    await late.start();
    await late.handle('orders', () => undefined);
    await waitFor(() => [late, ...brokers].every((b) => b.snapshot().members.length === 48), { bus, what: 'rings of 48' });
    await bus.idle();
    expect(errors).toEqual([]);
  });

  it('sends direct FWDs to a Go owner, which acknowledges them; the publish resolves on its ACK', async () => {
    const handled = new Map<string, number[]>();
    clique = await createMemoryClique({
      size: 2,
      options: { virtualNodes: 1, stabilization: { interval: 0 }, partitionHash: 'go-flow' },
      setup: (broker, i) => (i === 0 ? broker.handle('orders', () => undefined) : undefined),
      start: false,
    });
    const { bus, brokers } = clique;
    const go = new GoBrokerStandIn(bus.connect('go'), '_global', keyFromString('go-1', 'go-flow'));
    go.start();
    await brokers[0].start();
    await waitFor(() => brokers[0].snapshot().members.length === 2, { bus });
    await brokers[1].start();
    await waitFor(() => brokers[1].snapshot().members.length === 2, { bus });
    const key = keyOwnedBy({ snapshot: () => ({ positions: [go.key] }) } as unknown as Broker, brokers[0]);
    await brokers[1].publish('orders', seq(7), { key });
    expect(go.forwarded.map((m) => [fromUtf8(m.partitionKey), readSeq(m.data)])).toEqual([[key, 7]]);
    expect(brokers[1].counters).toMatchObject({ forwarded: 1, acked: 1 });
    expect(handled.size).toBe(0);
    go.close();
  });

  it('sends fire-and-forget publishes as one NATS message each to a Flow owner', async () => {
    const handled = new Map<string, number[]>();
    const publisher = await directClique(handled);
    const { bus, brokers } = clique!;
    const seen: string[] = [];
    bus.setFault((delivery) => (seen.push(kindOf(delivery)), 'deliver'));
    for (let n = 0; n < 50; n++) await publisher.publish('orders', seq(n), { key: `k-${n % 7}`, ack: false });
    await waitFor(() => [...handled.values()].flat().length === 50, { bus });
    expect(seen).toEqual(new Array(50).fill('FWD+flags'));
    for (const values of handled.values()) expect(values).toEqual([...values].sort((a, b) => a - b));
    expect(brokers.slice(0, 3).map((b) => b.counters.handled).reduce((a, b) => a + b)).toBe(50);
  });

  it('waits when the window of unhandled publishes is full, and rejects beyond maxQueuedMessages', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let handled = 0;
    clique = await createMemoryClique({
      size: 2,
      options: (i) => ({ virtualNodes: 2, stabilization: { interval: 0 }, ...(i === 1 ? { maxInFlightForwards: 2, maxQueuedMessages: 1 } : {}) }),
      setup: (broker, i) =>
        i === 0
          ? broker.handle('orders', async () => {
              await gate;
              handled++;
            })
          : undefined,
    });
    const { bus, brokers } = clique;
    await waitFor(() => brokers[1].snapshot().members.length === 2, { bus });
    const settled: string[] = [];
    const track = (n: number, p: Promise<void>) =>
      p.then(
        () => settled.push(`ok ${n}`),
        (error: FlowError) => settled.push(`${error.code} ${n}`),
      );
    const publishes = [1, 2, 3, 4].map((n) => track(n, brokers[1].publish('orders', seq(n), { key: `k-${n}` })));
    await waitFor(() => settled.length === 3, { bus });
    // 1 and 2 are accepted (window full until handled), 3 waits, 4 has no room to wait.
    expect(settled.sort()).toEqual(['FLOW_OVERLOADED 4', 'ok 1', 'ok 2']);
    release();
    await Promise.all(publishes);
    await waitFor(() => handled === 3, { bus });
    expect(settled.sort()).toEqual(['FLOW_OVERLOADED 4', 'ok 1', 'ok 2', 'ok 3']);
  });

  it('fails a direct request with FLOW_OWNER_LOST when its owner is found dead, long before its timeout', async () => {
    const clock = new ManualClock();
    clique = await createMemoryClique({
      size: 3,
      options: { virtualNodes: 4, stabilization: { interval: 0 }, ackTimeout: 100, requestTimeout: 60_000, clock },
      setup: (broker, i) => (i === 2 ? undefined : broker.handleRequest('quotes', () => new Promise<Uint8Array>(() => undefined))),
    });
    await clique.converged();
    const { bus, brokers } = clique;
    const publisher = brokers[2];
    await waitFor(() => publisher.snapshot().members.length === 8, { bus });
    const key = keyOwnedBy(brokers[1], brokers[0]);
    let outcome: unknown;
    publisher.request('quotes', seq(1), { key }).catch((error: FlowError) => (outcome = error.code));
    await waitFor(() => brokers[1].inFlight === 1, { bus });
    clique.crash(1);
    await waitFor(() => outcome !== undefined, { bus, clock, stepMs: 10, timeoutMs: 1_000 });
    expect(outcome).toBe('FLOW_OWNER_LOST');
    expect(clock.now()).toBeLessThan(1_000);
  });

  it('runs a publish once when its notice is lost and it is sent again (duplicate window)', async () => {
    const clock = new ManualClock();
    const handled = new Map<string, number[]>();
    const publisher = await directClique(handled, clock);
    const { bus, brokers } = clique!;
    let dropped = 0;
    bus.setFault((delivery) => (delivery.to === 'broker-3' && kindOf(delivery) === 'ACK+notice' && dropped++ === 0 ? 'drop' : 'deliver'));
    const key = keyOwnedBy(brokers[0], brokers[0]);
    let resolved = false;
    const published = publisher.publish('orders', seq(1), { key }).then(() => (resolved = true));
    await waitFor(() => dropped === 1, { bus });
    await bus.idle();
    expect(resolved).toBe(false);
    // One ackTimeout later the owner (alive, by the probe) is sent the publish again, with its id.
    clock.advance(100);
    await waitFor(() => resolved, { bus });
    await published;
    expect(handled.get(key)).toEqual([1]);
    expect(brokers[0].counters.duplicates).toBe(1);
    await waitFor(() => publisher.counters.acked === 1, { bus });
  });

  // Seed 223296 (overload): the publisher took an owner for dead and sent a publish on to the next, and the old
  // owner's refusal of its copy came after: the publisher rejected the publish, and the new owner ran it.
  it.each([
    ['goes on when a broker it has left refuses its earlier copy: not rejected, run once', false],
    ['is rejected when the broker it is at refuses it', true],
  ])('a publish %s', async (_title, byItsOwner) => {
    const clock = new ManualClock();
    const handled = new Map<string, number[]>();
    const publisher = await directClique(handled, clock);
    const { bus, brokers } = clique!;
    const owner = brokers[0]!;
    let id: number | bigint | undefined;
    let dropped = 0;
    bus.setFault((delivery) => {
      if (delivery.to === 'broker-0' && delivery.from === 'broker-3' && kindOf(delivery) === 'FWD+flags') id ??= (decodeFrame(delivery.data) as FwdFrame).id;
      return delivery.to === 'broker-3' && kindOf(delivery) === 'ACK+notice' && dropped++ === 0 ? 'drop' : 'deliver';
    });
    const key = keyOwnedBy(owner, owner);
    let outcome = 'pending';
    const published = publisher.publish('orders', seq(1), { key }).then(
      () => (outcome = 'resolved'),
      (error: FlowError) => (outcome = error.code),
    );
    await waitFor(() => dropped === 1, { bus });
    const refuser = byItsOwner ? owner.nodeKey : keyFromString('a broker it has left');
    const err = appendRefuser(encodeFrame(errorReply(id!, new OverloadedError('maxQueuedMessages', 1))), { node: refuser, virtualNodes: 4 });
    bus.connect('forger').publish(nodeSubject(publisher.clique, publisher.nodeKey), err);
    await bus.idle();
    if (byItsOwner) {
      expect(outcome).toBe('FLOW_OVERLOADED');
      return;
    }
    expect(outcome).toBe('pending');
    // The owner it is at answers its next send from the duplicate window.
    clock.advance(100);
    await waitFor(() => outcome !== 'pending', { bus });
    await published;
    expect(outcome).toBe('resolved');
    expect(handled.get(key)).toEqual([1]);
  });

  it("settles a member's publish to a key it owns as its own dispatcher does: rejected when its queue is full, not resolved and dropped", async () => {
    const ran: number[] = [];
    const unblock: (() => void)[] = [];
    clique = await createMemoryClique({
      size: 1,
      options: { virtualNodes: 4, stabilization: { interval: 0 }, maxQueuedMessages: 1 },
      // Each run waits until unblocked: one runs, one waits in the queue, a third finds it full.
      setup: (broker) => void broker.handle('orders', (d: Delivery) => new Promise<void>((resolve) => unblock.push(() => (ran.push(readSeq(d.data)), resolve())))),
    });
    await clique.converged();
    const [member] = clique.brokers;
    await member.publish('orders', seq(1), { key: 'k' });
    await member.publish('orders', seq(2), { key: 'k' });
    const refused = await member.publish('orders', seq(3), { key: 'k' }).then(
      () => undefined,
      (error: FlowError) => error,
    );
    expect(refused?.code).toBe('FLOW_OVERLOADED');
    unblock.shift()!();
    await waitFor(() => unblock.length === 1, { bus: clique.bus, what: 'the second run to start' });
    unblock.shift()!();
    await clique.bus.idle();
    expect(ran).toEqual([1, 2]);
    expect(member.counters.refusedLate).toBe(0);
  });
});
