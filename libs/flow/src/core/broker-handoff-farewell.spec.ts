import { Gate } from '../../test/gate';
import { chainOfThree, Journal } from '../../test/journal';
import { keysOwnedBy, positionsOf } from '../../test/ownership-probes';
import { createMemoryClique, MemoryClique } from '../testing/clique';
import { ManualClock } from '../testing/manual-clock';
import { waitFor } from '../testing/wait-for';
import { readU32 } from './bytes';
import { FRAME_HEADER_SIZE } from './frame';
import { encodeFarewell, readHandoff } from './handoff-wire';
import { Key } from './key';
import { MAX_HASH } from './key-ranges';
import { nodeSubject } from './subjects';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const ACK_TIMEOUT = 100;
/** The handoff message right after an ACK frame's payload ('FHQY', 'FHAN', 'FHBY'), or undefined. */
const trailer = (data: Uint8Array): number | undefined =>
  data.length > FRAME_HEADER_SIZE + 4 + readU32(data, 8) ? readU32(data, FRAME_HEADER_SIZE + readU32(data, 8)) : undefined;
const FHQY = 0x46485159;
const FHAN = 0x4648414e;
const FHBY = 0x46484259;
/** One turn of the event loop: the memory bus reports "no responders" from setImmediate. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('handoff: the previous owner says farewell when it closes with no lane busy', () => {
  let clique: MemoryClique | undefined;
  afterEach(async () => {
    await clique?.close();
    clique = undefined;
  });

  async function twoBrokers(journal: Journal, clock: ManualClock): Promise<MemoryClique> {
    return createMemoryClique({
      size: 2,
      options: { virtualNodes: 8, stabilization: { interval: 0 }, clock, ackTimeout: ACK_TIMEOUT },
      setup: (broker, i) => broker.handle('orders', journal.handler(`b${i}`)),
    });
  }

  it('graceful leave: a query that reaches the leaver after it unsubscribed costs no ackTimeout', async () => {
    const clock = new ManualClock();
    const journal = new Journal();
    clique = await twoBrokers(journal, clock);
    const [a, b] = clique.brokers;
    const [moved] = keysOwnedBy(b, a, 1);
    // b's shutdown waits on its `released` listener until a's query is on its way to b; then b
    // closes before the query is delivered: it reaches a subscription that ended (as a NATS
    // client drops what the server routed before it processed the UNSUB), with no "no responders".
    const release = new Gate();
    b.on('released', () => release.opened);
    let queries = 0;
    let farewells = 0;
    clique.bus.setFault((delivery) => {
      const kind = trailer(delivery.data);
      if (kind === FHBY) farewells++;
      if (kind !== FHQY) return 'deliver';
      queries++;
      release.open();
      return { delayMs: 0 };
    });
    await b.shutdown({ timeout: 60_000 });
    await clique.bus.idle();
    expect(queries).toBe(1);
    await a.publish('orders', bytes('m1'), { key: moved });
    await clique.bus.idle();
    // Not held until a's next query an ackTimeout later: b's farewell ended a's hold.
    expect(journal.lines).toEqual(['b0 start m1', 'b0 end m1']);
    expect(farewells).toBe(1);
    expect(a.counters.handoffsAbandoned).toBe(0);
  });

  it('a broker that closes with a lane busy says no farewell: the new owner keeps the key held under the patience rules', async () => {
    const clock = new ManualClock();
    const journal = new Journal();
    clique = await twoBrokers(journal, clock);
    const [a, b] = clique.brokers;
    const [busy] = keysOwnedBy(b, a, 1);
    const gate = journal.gate('busy-1');
    // Fire and forget: a keeps nothing of busy-1, so the handoff alone holds busy-2.
    await a.publish('orders', bytes('busy-1'), { key: busy, ack: false });
    await clique.bus.idle();
    let farewells = 0;
    let answers = 0;
    clique.bus.setFault((delivery) => {
      if (trailer(delivery.data) === FHBY) farewells++;
      if (trailer(delivery.data) === FHAN) answers++;
      return 'deliver';
    });
    // The shutdown times out with busy-1 still running: b closes with its lane busy.
    const leaving = b.shutdown({ timeout: ACK_TIMEOUT / 2 });
    const timedOut = expect(leaving).rejects.toMatchObject({ code: 'FLOW_TIMEOUT' });
    // b answered a's query: busy-1's lane is busy.
    await waitFor(() => answers > 0, { bus: clique.bus, what: "b's answer" });
    await a.publish('orders', bytes('busy-2'), { key: busy });
    clock.advance(ACK_TIMEOUT / 2);
    await timedOut;
    await clique.bus.idle();
    await turn();
    await clique.bus.idle();
    expect(farewells).toBe(0);
    expect(journal.lines).toEqual(['b1 start busy-1']);
    // a's next query finds b gone with its lane last heard busy: given up, counted, as before.
    clock.advance(ACK_TIMEOUT / 2);
    await clique.bus.idle();
    await turn();
    await clique.bus.idle();
    expect(journal.lines.slice(0, 3)).toEqual(['b1 start busy-1', 'b0 start busy-2', 'b0 end busy-2']);
    expect(a.counters.handoffsAbandoned).toBe(1);
    gate.open();
  });

  it('close() with no lane busy bids farewell once to each member node that speaks handoff', async () => {
    const clock = new ManualClock();
    const journal = new Journal();
    clique = await createMemoryClique({
      size: 3,
      options: { virtualNodes: 8, stabilization: { interval: 0 }, clock, ackTimeout: ACK_TIMEOUT },
      setup: (broker, i) => broker.handle('orders', journal.handler(`b${i}`)),
    });
    const [a, b, c] = clique.brokers;
    const told: string[] = [];
    clique.bus.setFault((delivery) => {
      if (trailer(delivery.data) === FHBY) told.push(delivery.subject);
      return 'deliver';
    });
    await b.close();
    await clique.bus.idle();
    expect(told.sort()).toEqual([nodeSubject(a.clique, a.nodeKey), nodeSubject(c.clique, c.nodeKey)].sort());
  });

  it('a farewell names the earlier owner the leaver still waited for: the key keeps waiting for it (a chain of moves)', async () => {
    const chain = await chainOfThree();
    clique = chain.clique;
    const { journal, x, y, z, key, gate, bus } = chain;
    const ySubject = nodeSubject(y.clique, y.nodeKey);
    const release = new Gate();
    let answersToY = 0;
    let lost = 0;
    bus.setFault((delivery) => {
      if (delivery.subject !== ySubject) return 'deliver';
      if (trailer(delivery.data) === FHAN) answersToY++;
      if (answersToY === 0 || trailer(delivery.data) !== FHQY) return 'deliver';
      lost++;
      release.open();
      return { delayMs: 0 };
    });
    const xLeaving = x.shutdown();
    // y owns the key now and has heard from x that its lane is busy.
    await waitFor(() => answersToY > 0, { bus: bus, what: "x's answer to y" });
    expect(positionsOf(y).has(String(z.ownerOf(key)))).toBe(true);
    // y leaves too, holding nothing; z's query reaches y only after y closed (as in the first case): only y's farewell tells z about x.
    y.on('released', () => release.opened);
    await y.shutdown();
    await bus.idle();
    expect(lost).toBe(1);
    await bus.idle();
    await z.publish('orders', bytes('m2'), { key, ack: false });
    await bus.idle();
    expect(positionsOf(z).has(String(z.ownerOf(key)))).toBe(true);
    // x still runs m1: nothing of the key ran on z.
    expect(journal.lines).toEqual(['b0 start m1']);
    gate.open();
    await xLeaving;
    await waitFor(() => journal.lines.length === 4, { bus: bus, what: 'm2 handled' });
    expect(journal.lines).toEqual(['b0 start m1', 'b0 end m1', 'b2 start m2', 'b2 end m2']);
    expect([x, y, z].map((broker) => broker.counters.handoffsAbandoned)).toEqual([0, 0, 0]);
  });

  it('a broker that leaves before its previous owner answered still redirects the next owner to it', async () => {
    const chain = await chainOfThree();
    clique = chain.clique;
    const { journal, x, y, z, key, gate, bus } = chain;
    // y starts its shutdown (retires) just before x's answer to its query arrives.
    const ySubject = nodeSubject(y.clique, y.nodeKey);
    let yLeaving: Promise<void> | undefined;
    bus.setFault((delivery) => {
      if (delivery.subject === ySubject && trailer(delivery.data) === FHAN) yLeaving ??= y.shutdown();
      return 'deliver';
    });
    const xLeaving = x.shutdown();
    await waitFor(() => yLeaving !== undefined, { bus: bus, what: "x's answer to y" });
    await waitFor(() => positionsOf(z).has(String(z.ownerOf(key))), { bus: bus, what: 'z to own the key' });
    await z.publish('orders', bytes('m2'), { key, ack: false });
    await bus.idle();
    // x still runs m1: nothing of the key ran on z.
    expect(journal.lines).toEqual(['b0 start m1']);
    gate.open();
    await xLeaving;
    await yLeaving;
    await waitFor(() => journal.lines.length === 4, { bus: bus, what: 'm2 handled' });
    expect(journal.lines).toEqual(['b0 start m1', 'b0 end m1', 'b2 start m2', 'b2 end m2']);
  });

  it('reads back a farewell and refuses a truncated one', () => {
    const node = new Key(0x01020304, 0x05060708);
    const redirects = [{ node: new Key(9, 10), intervals: [{ lo: 0n, hi: 5n }, { lo: 1n << 63n, hi: MAX_HASH }] }];
    expect(readHandoff(encodeFarewell(node, []))).toEqual({ kind: 'farewell', node, redirects: [] });
    const farewell = encodeFarewell(node, redirects);
    expect(readHandoff(farewell)).toEqual({ kind: 'farewell', node, redirects });
    expect(() => readHandoff(farewell.subarray(0, farewell.length - 1))).toThrow(/handoff farewell/);
  });
});



