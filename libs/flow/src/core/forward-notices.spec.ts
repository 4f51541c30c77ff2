import { Gate } from '../../test/gate';
import { flowBesideGo } from '../../test/go-broker';
import { findKey } from '../../test/ownership-probes';
import { fromUtf8 } from '../../test/sequence';
import { createMemoryClique, MemoryClique } from '../testing/clique';
import { ManualClock } from '../testing/manual-clock';
import { waitFor } from '../testing/wait-for';
import { Broker, type Delivery } from './broker';
import { decodeFrame, encodeFrame, FrameType } from './frame';
import { keyFromString } from './key';
import { MemoryBus } from './memory-pubsub';
import { PublishFlags, readNotice, readPublishFlags, viewSubject } from './publish-wire';

const ACK_TIMEOUT = 50;
const utf8 = new TextEncoder();
const never = new Promise<void>(() => undefined);

function frameType(data: Uint8Array): string | undefined {
  try {
    return decodeFrame(data).type;
  } catch {
    return undefined;
  }
}

describe('forward notices between Flow members', () => {
  let clique: MemoryClique | undefined;
  const closers: (() => unknown)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
    await clique?.close();
    clique = undefined;
  });

  /** Brokers 0..2 handle 'orders' (broker 1 through `ownerHandler`); broker 3 publishes through the queue group. */
  async function threeMembers(clock: ManualClock, handled: string[], ownerHandler: (d: Delivery) => Promise<void>) {
    clique = await createMemoryClique({
      size: 4,
      options: { virtualNodes: 4, ackTimeout: ACK_TIMEOUT, stabilization: { interval: 0 }, directRouting: false, clock },
      setup: (broker, i) => {
        if (i === 3) return undefined;
        return broker.handle('orders', i === 1 ? ownerHandler : (d) => void handled.push(fromUtf8(d.data)));
      },
    });
    await clique.converged({ clock, stepMs: 10 });
    return clique;
  }

  it('hands a forward whose owner accepted it and died before handling it to the next owner', async () => {
    const clock = new ManualClock();
    const handled: string[] = [];
    const { bus, brokers } = await threeMembers(clock, handled, () => never);
    const key = findKey((k) => isOwnedBy(brokers, 1, k));
    // The queue group hands the six to brokers 0, 1 and 2 in turn: 0 and 2 forward theirs to broker 1.
    for (let i = 0; i < 6; i++) await brokers[3].publish('orders', utf8.encode(`m${i}`), { key });
    await waitFor(() => brokers[1].inFlight === 6, { bus, clock, stepMs: 1, what: 'broker 1 to hold all six' });
    const forwarded = brokers[0].counters.forwarded + brokers[2].counters.forwarded;
    expect(forwarded).toBe(4);
    // Accepted (the entry brokers hold them), none handled: the owner's handler never ends.
    expect(brokers[0].load.forwardsInFlight + brokers[2].load.forwardsInFlight).toBe(4);
    expect(handled).toEqual([]);

    clique!.crash(1);
    await waitFor(() => handled.length >= forwarded, { bus, clock, stepMs: 10, timeoutMs: 10_000, what: 'the forwards to reach the next owner' });
    await waitFor(() => brokers[0].load.forwardsInFlight + brokers[2].load.forwardsInFlight === 0, { bus, clock, stepMs: 10, what: 'the forwards to settle' });
    // Each forwarded message once (the two that entered at broker 1 itself died with it).
    expect(handled).toHaveLength(forwarded);
    expect(new Set(handled).size).toBe(forwarded);
  });

  it('asks a Flow owner for notices and settles a forward only when it reports the message handled', async () => {
    const clock = new ManualClock();
    const handled: string[] = [];
    const gate = new Gate();
    const { bus, brokers } = await threeMembers(clock, handled, async () => gate.opened);
    const flags: (number | undefined)[] = [];
    bus.setFault((delivery) => {
      if (delivery.to === 'broker-1' && frameType(delivery.data) === FrameType.Fwd) flags.push(readPublishFlags(delivery.data));
      return 'deliver';
    });
    const key = findKey((k) => isOwnedBy(brokers, 1, k));
    for (let i = 0; i < 3; i++) await brokers[3].publish('orders', utf8.encode(`m${i}`), { key });
    await waitFor(() => brokers[1].inFlight === 3, { bus, clock, what: 'broker 1 to hold all three' });
    expect(flags).toEqual([PublishFlags.Notices, PublishFlags.Notices]);
    // Two ackTimeouts later, still kept (accepted, the owner alive), and not handled twice.
    clock.advance(2 * ACK_TIMEOUT);
    await bus.idle();
    expect(brokers[0].load.forwardsInFlight + brokers[2].load.forwardsInFlight).toBe(2);
    gate.open();
    await waitFor(() => brokers[0].load.forwardsInFlight + brokers[2].load.forwardsInFlight === 0, { bus, clock, what: 'handled notices' });
    expect(brokers[1].inFlight).toBe(0);
    expect(brokers[0].counters.acked + brokers[2].counters.acked).toBe(2);
  });

  it('answers a forward sent again after its handled notice was lost from the duplicate window: handled once', async () => {
    const clock = new ManualClock();
    const ran: string[] = [];
    const { bus, brokers } = await threeMembers(clock, [], async () => void ran.push('run'));
    // The owner's first notices to the entry brokers that report "handled" are lost.
    let lost = 0;
    bus.setFault((delivery) => {
      if (delivery.from !== 'broker-1' || frameType(delivery.data) !== FrameType.Ack) return 'deliver';
      const notice = readNotice(delivery.data);
      if (notice !== undefined && notice.handled.length > 0 && lost < 2) return (lost++, 'drop');
      return 'deliver';
    });
    const key = findKey((k) => isOwnedBy(brokers, 1, k));
    for (let i = 0; i < 3; i++) await brokers[3].publish('orders', utf8.encode(`m${i}`), { key });
    await waitFor(() => lost === 2 && ran.length === 3, { bus, clock, what: 'handled notices lost' });
    expect(brokers[0].load.forwardsInFlight + brokers[2].load.forwardsInFlight).toBe(2);
    await waitFor(() => brokers[0].load.forwardsInFlight + brokers[2].load.forwardsInFlight === 0, {
      bus,
      clock,
      stepMs: 10,
      timeoutMs: 20 * ACK_TIMEOUT,
      what: 'the forwards sent again to settle',
    });
    expect(ran).toHaveLength(3);
    expect(brokers[1].counters.duplicates).toBeGreaterThanOrEqual(2);
    expect(brokers[0].counters.retried + brokers[2].counters.retried).toBeGreaterThanOrEqual(2);
    // Nobody was suspected for it: the owner answered the probe.
    expect(brokers[0].snapshot().members).toHaveLength(12);
  });

  // Before, it waited ACK_PATIENCE ackTimeouts while the owner answered others: a relayed publish's
  // publisher, as patient, then took the relaying broker for dead (simulation seed 1477 with overload).
  it('sends a forward again after one ackTimeout when its FWD was lost and the owner answers other forwards', async () => {
    const clock = new ManualClock();
    const handled: string[] = [];
    const { bus, brokers } = await threeMembers(clock, [], async (d) => void handled.push(fromUtf8(d.data)));
    let dropped = 0;
    bus.setFault((delivery) => {
      if (delivery.from !== 'broker-0' || delivery.to !== 'broker-1' || frameType(delivery.data) !== FrameType.Fwd) return 'deliver';
      return dropped++ === 0 ? 'drop' : 'deliver';
    });
    const key = findKey((k) => isOwnedBy(brokers, 1, k));
    // One publish every 5 ms; the queue group hands them to brokers 0, 1 and 2 in turn: broker 0 forwards
    // m0 (lost), m3, m6, ..., and the owner's answers to those keep coming.
    const started = clock.now();
    const sent: string[] = [];
    for (let i = 0; i < 30 && !handled.includes('m0'); i++) {
      sent.push(`m${i}`);
      await brokers[3].publish('orders', utf8.encode(`m${i}`), { key });
      clock.advance(5);
      await bus.idle();
    }
    expect(handled).toContain('m0');
    expect(clock.now() - started).toBeLessThanOrEqual(2 * ACK_TIMEOUT);
    await waitFor(() => brokers[0].load.forwardsInFlight === 0, { bus, clock, stepMs: 5, what: 'the forwards settled' });
    expect([...handled].sort()).toEqual([...sent].sort());
    expect(brokers[0].counters.retried).toBe(1);
    // Nobody was suspected.
    expect(brokers[0].snapshot().members).toHaveLength(12);
  });

  it('sends a Go owner a plain FWD, and its ACK on receipt settles the forward', async () => {
    const bus = new MemoryBus();
    const { flow, go, key } = await flowBesideGo(bus, { directRouting: false });
    closers.push(() => flow.close(), () => go.close());
    const toGo: Uint8Array[] = [];
    bus.setFault((delivery) => {
      if (delivery.to === 'go' && frameType(delivery.data) === FrameType.Fwd) toGo.push(delivery.data);
      return 'deliver';
    });
    for (let i = 0; i < 3; i++) await flow.publish('orders', utf8.encode(`m${i}`), { key });
    await waitFor(() => go.forwarded.length === 3 && flow.load.forwardsInFlight === 0, { bus, what: 'the Go broker to acknowledge' });
    expect(toGo.map(readPublishFlags)).toEqual([undefined, undefined, undefined]);
    expect(flow.counters.acked).toBe(3);
    expect(flow.counters.forwarded).toBe(3);
  });

  // Seed 130441 (with overload): a broker that joined while the owner was disconnected knew its positions from
  // other members' INFO, not its announcement, took it for Go and settled a relayed publish on its ACK on
  // receipt; the owner, overloaded, dropped it, and the publisher was told it was handled.
  it('asks for notices an owner whose announcement it has not heard yet, outside go-flow mode, and keeps the forward until handled', async () => {
    const clock = new ManualClock();
    const gate = new Gate();
    const handled: string[] = [];
    // Brokers 0 and 1 handle (1 through the gate); 2 joins later and never hears broker 1 itself; 3 publishes.
    clique = await createMemoryClique({
      size: 4,
      options: { virtualNodes: 4, ackTimeout: ACK_TIMEOUT, stabilization: { interval: 0 }, directRouting: false, clock },
      setup: (broker, i) => {
        if (i === 3) return undefined;
        return broker.handle('orders', async (d) => {
          if (i === 1) await gate.opened;
          handled.push(fromUtf8(d.data));
        });
      },
      start: false,
    });
    const { bus, brokers } = clique;
    for (const i of [0, 1, 3]) await brokers[i].start();
    await waitFor(() => clique!.isConverged(), { bus, clock, what: 'a ring of two' });
    // Broker 2 learns broker 1's positions from broker 0's answer to its view question (stabilization is off):
    // the view subject's queue group takes turns, so turns are spent until broker 1 took the last one.
    const rotor = bus.connect('rotor');
    let lastAnswerer = '';
    bus.setFault((delivery) => ((lastAnswerer = delivery.subject === viewSubject('_global') ? delivery.to : lastAnswerer), 'deliver'));
    for (let turn = 0; turn < 2 && lastAnswerer !== 'broker-1'; turn++) {
      rotor.publish(viewSubject('_global'), encodeFrame({ type: FrameType.Ping, id: turn + 1, sender: keyFromString('rotor') }));
      await bus.idle();
    }
    expect(lastAnswerer).toBe('broker-1');
    const toOwner: (number | undefined)[] = [];
    bus.setFault((delivery) => {
      const type = frameType(delivery.data);
      // Every frame that could carry broker 1's announcement to broker 2 is lost.
      if (delivery.from === 'broker-1' && delivery.to === 'broker-2' && type !== FrameType.Ack) return 'drop';
      if (delivery.from === 'broker-2' && delivery.to === 'broker-1' && type === FrameType.Fwd) toOwner.push(readPublishFlags(delivery.data));
      return 'deliver';
    });
    await brokers[2].start();
    await waitFor(() => clique!.isConverged(), { bus, clock, what: 'broker 2 to know every position' });
    const key = findKey((k) => isOwnedBy(brokers, 1, k));
    // The queue group hands the six to brokers 0, 1 and 2 in turn: 2 forwards two of them.
    for (let i = 0; i < 6; i++) await brokers[3].publish('orders', utf8.encode(`m${i}`), { key });
    await waitFor(() => toOwner.length === 2 && brokers[1].inFlight === 6, { bus, clock, what: 'broker 2 to forward two' });
    expect(toOwner).toEqual([PublishFlags.Notices, PublishFlags.Notices]);
    // Accepted, not handled: broker 2 keeps both (an ACK on receipt would have settled them).
    expect(brokers[2].load.forwardsInFlight).toBe(2);
    expect(brokers[2].counters.acked).toBe(0);
    gate.open();
    await waitFor(() => brokers[2].load.forwardsInFlight === 0, { bus, clock, what: 'handled notices' });
    expect(brokers[2].counters.acked).toBe(2);
    expect(handled).toHaveLength(6);
  });

  it("relays a publisher's message to the owner by its own view, and reports it handled only once that owner ran it", async () => {
    const clock = new ManualClock();
    const gate = new Gate();
    const ran: string[] = [];
    // Brokers 0 and 1 handle; 2 publishes direct; 3 joins later, unseen by the publisher (its JOINs to it are lost).
    clique = await createMemoryClique({
      size: 4,
      options: { virtualNodes: 4, ackTimeout: ACK_TIMEOUT, stabilization: { interval: 0 }, clock },
      setup: (broker, i) =>
        i === 2
          ? undefined
          : broker.handle('orders', async (d) => {
              ran.push(fromUtf8(d.data));
              if (i === 3) await gate.opened;
            }),
      start: false,
    });
    const { bus, brokers } = clique;
    for (const i of [0, 1, 2]) await brokers[i].start();
    await waitFor(() => clique!.isConverged() && brokers[2].snapshot().members.length === 8, { bus, clock, what: 'a ring of two' });
    const before = new Map<string, string>();
    for (let i = 0; i < 1000; i++) before.set(`key-${i}`, String(brokers[0].ownerOf(`key-${i}`)));
    bus.setFault((delivery) => (delivery.to === 'broker-2' && frameType(delivery.data) === FrameType.Join ? 'drop' : 'deliver'));
    await brokers[3].start();
    await waitFor(() => clique!.isConverged(), { bus, clock, what: 'the members to see broker 3' });
    expect(brokers[2].snapshot().members).toHaveLength(8);
    const positions = (i: number) => new Set(brokers[i].snapshot().positions.map(String));
    // Owned by broker 3 now; the publisher still sends it to its owner among 0 and 1, which relays it.
    const key = findKey((k) => positions(3).has(String(brokers[0].ownerOf(k))) && positions(3).has(String(brokers[1].ownerOf(k))));
    const relay = positions(0).has(before.get(key)!) ? 0 : 1;

    let resolved = false;
    void brokers[2].publish('orders', utf8.encode('m0'), { key }).then(() => (resolved = true));
    await waitFor(() => resolved && ran.length === 1, { bus, clock, what: 'the relayed message accepted and running' });
    expect(brokers[relay].counters.forwarded).toBe(1);
    // Accepted, not handled: the publisher keeps it (its acked counts handled publishes), also after
    // retries answered from the relay's duplicate window, and so does the relay.
    for (let i = 0; i < 3; i++) {
      clock.advance(ACK_TIMEOUT);
      await bus.idle();
    }
    expect(brokers[2].counters.retried).toBeGreaterThan(0);
    expect(brokers[relay].counters.duplicates).toBe(brokers[2].counters.retried);
    expect(brokers[2].counters.acked).toBe(0);
    expect(brokers[relay].load.forwardsInFlight).toBe(1);
    gate.open();
    await waitFor(() => brokers[2].counters.acked === 1, { bus, clock, what: 'the handled notice relayed' });
    expect(brokers[relay].load.forwardsInFlight).toBe(0);
    expect(brokers[relay].counters.forwarded).toBe(1);
    expect(ran).toEqual(['m0']);
  });
});

/** True when every live joined broker's view says broker `index` owns `key`. */
function isOwnedBy(brokers: readonly Broker[], index: number, key: string): boolean {
  const positions = brokers[index].snapshot().positions;
  return [0, 1, 2].every((i) => {
    const owner = brokers[i].ownerOf(key);
    return owner !== undefined && positions.some((p) => p.equals(owner));
  });
}
