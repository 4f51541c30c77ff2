import { Journal } from '../../test/journal';
import { keysOwnedBy } from '../../test/ownership-probes';
import { createMemoryClique, MemoryClique } from '../testing/clique';
import { ManualClock } from '../testing/manual-clock';
import { waitFor } from '../testing/wait-for';
import { Broker } from './broker';
import { readU32 } from './bytes';
import { encodeFrame, FRAME_HEADER_SIZE, FrameType } from './frame';
import { encodePublishFwd, PublishFlags } from './publish-wire';
import { nodeSubject } from './subjects';
import { encodeAnswer, encodeQuery, MAX_ANSWER_LANES, readHandoff } from './handoff-wire';
import { HANDOFF_PATIENCE } from './handoff-host';
import { Key } from './key';
import { MAX_HASH } from './key-ranges';

const utf8 = new TextDecoder();
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
/** 'FHQY' right after an ACK frame's payload: a handoff query on the wire. */
const isQuery = (data: Uint8Array): boolean =>
  data.length > FRAME_HEADER_SIZE + 4 && readU32(data, FRAME_HEADER_SIZE + readU32(data, 8)) === 0x46485159;

describe('handoff between live brokers', () => {
  let clique: MemoryClique | undefined;
  afterEach(async () => {
    await clique?.close();
    clique = undefined;
  });

  /** Two brokers of 8 positions handling 'orders' into `journal` (b0, b1), without stabilization. */
  function journaledPair(journal: Journal, start = true): Promise<MemoryClique> {
    return createMemoryClique({
      size: 2,
      options: { virtualNodes: 8, stabilization: { interval: 0 } },
      setup: (broker, i) => broker.handle('orders', journal.handler(`b${i}`)),
      start,
    });
  }

  it('graceful leave: a moved key waits for the old owner to finish it, other moved keys run at once', async () => {
    const journal = new Journal();
    clique = await journaledPair(journal);
    const [a, b] = clique.brokers;
    const [busy, idle] = keysOwnedBy(b, a, 2);
    const gate = journal.gate('busy-1');
    // Fire and forget: a keeps nothing of busy-1, so the handoff alone holds busy-2 (see the next test).
    await a.publish('orders', new TextEncoder().encode('busy-1'), { key: busy, ack: false });
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

  it("graceful leave: a member's publish to a key it takes over waits in its lane for its own earlier one at the old owner", async () => {
    const journal = new Journal();
    clique = await journaledPair(journal);
    const [a, b] = clique.brokers;
    const [busy] = keysOwnedBy(b, a, 1);
    const gate = journal.gate('busy-1');
    await a.publish('orders', bytes('busy-1'), { key: busy });
    await clique.bus.idle();
    const leaving = b.shutdown();
    await clique.bus.idle();
    // busy is a's now, but a keeps busy-1 unsettled at b: busy-2 waits behind it, as for any owner change.
    let resolved = false;
    const second = a.publish('orders', bytes('busy-2'), { key: busy }).then(() => (resolved = true));
    await clique.bus.idle();
    expect(resolved).toBe(false);
    expect(a.load.publishesUnsettled).toBe(2);
    gate.open();
    await leaving;
    await second;
    await clique.bus.idle();
    expect(journal.lines).toEqual(['b1 start busy-1', 'b1 end busy-1', 'b0 start busy-2', 'b0 end busy-2']);
  });

  it('join: the joiner waits for a key its previous owner still runs; other keys it takes run at once', async () => {
    const journal = new Journal();
    clique = await journaledPair(journal, false);
    const [a, b] = clique.brokers;
    await a.start();
    // Keys that b will own once it joins: in a two-member ring of a and b, by b's positions.
    const probe = await createMemoryClique({ size: 2, options: { virtualNodes: 8, stabilization: { interval: 0 } }, setup: (x) => x.handle('orders', () => undefined) });
    const [busy, idle] = keysOwnedBy(probe.brokers[1], probe.brokers[0], 2);
    await probe.close();
    const gate = journal.gate('busy-1');
    await a.publish('orders', bytes('busy-1'), { key: busy });
    await clique.bus.idle();

    await b.start();
    await clique.bus.idle();
    expect(String(a.ownerOf(busy))).toBe(String(b.ownerOf(busy)));
    expect(b.snapshot().positions.map(String)).toContain(String(b.ownerOf(busy)));
    await a.publish('orders', bytes('busy-2'), { key: busy });
    await a.publish('orders', bytes('idle-1'), { key: idle });
    await clique.bus.idle();
    expect(journal.lines).toEqual(['b0 start busy-1', 'b1 start idle-1', 'b1 end idle-1']);

    gate.open();
    await waitFor(() => journal.lines.length === 6, { bus: clique.bus, what: 'busy-2 to run on b' });
    expect(journal.lines.slice(3)).toEqual(['b0 end busy-1', 'b1 start busy-2', 'b1 end busy-2']);
    expect(b.counters.handoffsAbandoned).toBe(0);
  });

  it('a previous owner that stops answering is given up after HANDOFF_PATIENCE queries, counted; its keys then run', async () => {
    const clock = new ManualClock();
    const journal = new Journal();
    clique = await createMemoryClique({
      size: 2,
      options: { virtualNodes: 8, stabilization: { interval: 0 }, clock, ackTimeout: 100 },
      setup: (broker, i) => broker.handle('orders', journal.handler(`b${i}`)),
    });
    const [a, b] = clique.brokers;
    const [busy] = keysOwnedBy(b, a, 1);
    const gate = journal.gate('busy-1');
    // Fire and forget: a keeps nothing of busy-1, so the handoff alone holds busy-2.
    await a.publish('orders', bytes('busy-1'), { key: busy, ack: false });
    await clique.bus.idle();
    let queries = 0;
    const leaving = b.shutdown({ timeout: 60_000 });
    await clique.bus.idle();
    // From now on b hears no query: it is alive (subscribed) but silent.
    clique.bus.setFault((delivery) => (isQuery(delivery.data) ? (queries++, 'drop') : 'deliver'));
    const published = a.publish('orders', bytes('busy-2'), { key: busy });
    for (let i = 0; i < HANDOFF_PATIENCE + 1 && journal.lines.length < 3; i++) {
      clock.advance(100);
      await clique.bus.idle();
    }
    await published;
    // One hold for b (all its positions' ranges), asked HANDOFF_PATIENCE times in vain.
    expect(queries).toBe(HANDOFF_PATIENCE);
    expect(a.counters.handoffsAbandoned).toBeGreaterThan(0);
    expect(journal.lines).toEqual(['b1 start busy-1', 'b0 start busy-2', 'b0 end busy-2']);
    gate.open();
    await leaving;
  });

  it('reads back what it writes and refuses truncated or inflated handoff trailers', () => {
    const asker = new Key(0x01020304, 0x05060708);
    const intervals = [{ lo: 0n, hi: 5n }, { lo: 1n << 63n, hi: MAX_HASH }];
    expect(readHandoff(encodeQuery(7, asker, intervals))).toEqual({ kind: 'query', token: 7, asker, intervals });
    expect(readHandoff(encodeAnswer(8, intervals, [3, 9]))).toEqual({ kind: 'answer', token: 8, released: intervals, lanes: [3, 9], redirects: [] });
    const redirects = [{ node: asker, intervals: [intervals[0]] }];
    expect(readHandoff(encodeAnswer(8, intervals, [3], redirects))).toMatchObject({ lanes: [3], redirects });
    expect(readHandoff(encodeAnswer(9, [], undefined))).toEqual({ kind: 'answer', token: 9, released: [], lanes: undefined, redirects: [] });
    const many = Array.from({ length: MAX_ANSWER_LANES + 1 }, (_, i) => i);
    expect(readHandoff(encodeAnswer(10, [], many))).toMatchObject({ lanes: undefined });
    const query = encodeQuery(7, asker, intervals);
    expect(() => readHandoff(query.subarray(0, query.length - 1))).toThrow(/handoff query/);
    const inflated = encodeAnswer(8, intervals, [3]);
    inflated[inflated.length - 8] = 0xff;
    expect(() => readHandoff(inflated)).toThrow(/handoff answer/);
  });

  it('a broker that has not joined acknowledges no forward: an ACK would settle a message nobody runs', async () => {
    clique = await createMemoryClique({ size: 1, options: { nodeName: 'restarted-before-joining' } });
    const [notJoined] = clique.brokers;
    const raw = clique.bus.connect('raw');
    const sender = new Key(0x0a0b0c0d, 0x01020304);
    const answers: Uint8Array[] = [];
    raw.subscribe(nodeSubject(notJoined.clique, sender), {}, (_subject, data) => void answers.push(data));
    const msg = { id: 0, reply: '', stream: 'orders', partitionKey: bytes('k'), data: bytes('m') };
    const publisherFwd = encodePublishFwd({ type: FrameType.Fwd, id: 7, ackTo: sender, msg }, PublishFlags.Notices, (n) => new Uint8Array(n));
    const memberFwd = encodeFrame({ type: FrameType.Fwd, id: 8, ackTo: sender, msg });
    raw.publish(nodeSubject(notJoined.clique, notJoined.nodeKey), publisherFwd);
    raw.publish(nodeSubject(notJoined.clique, notJoined.nodeKey), memberFwd);
    await clique.bus.idle();
    expect(notJoined.snapshot().joined).toBe(false);
    expect(answers).toEqual([]);
    await raw.close();
  });

  it('a publisher restarted under its name is not taken for its previous instance: its messages are not duplicates', async () => {
    const handled: string[] = [];
    clique = await createMemoryClique({
      size: 2,
      options: (i) => ({ stabilization: { interval: 0 }, nodeName: i === 0 ? 'owner' : 'publisher' }),
      setup: (broker, i) => (i === 0 ? broker.handle('orders', (d) => void handled.push(utf8.decode(d.data))) : undefined),
    });
    const [owner, first] = clique.brokers;
    await first.publish('orders', bytes('from the first instance'), { key: 'k' });
    await clique.bus.idle();
    await first.close();
    const second = new Broker(clique.bus.connect('second'), { stabilization: { interval: 0 }, nodeName: 'publisher' });
    await second.start();
    await second.publish('orders', bytes('from the second instance'), { key: 'k' });
    await waitFor(() => handled.length === 2, { bus: clique.bus, what: 'both messages handled' });
    expect(handled).toEqual(['from the first instance', 'from the second instance']);
    expect(owner.counters.duplicates).toBe(0);
    await second.close();
  });

  it('asks again every ackTimeout while a lane drains, with queries that do not grow', async () => {
    const clock = new ManualClock();
    const journal = new Journal();
    clique = await createMemoryClique({
      size: 3,
      options: { virtualNodes: 8, stabilization: { interval: 0 }, clock, ackTimeout: 100 },
      setup: (broker, i) => broker.handle('orders', journal.handler(`b${i}`)),
    });
    const [a, , c] = clique.brokers;
    const [busy] = keysOwnedBy(c, a, 1);
    const gate = journal.gate('busy-1');
    await a.publish('orders', bytes('busy-1'), { key: busy });
    await clique.bus.idle();
    const sizes: number[] = [];
    clique.bus.setFault((delivery) => {
      if (isQuery(delivery.data)) sizes.push(delivery.data.length);
      return 'deliver';
    });
    const leaving = c.shutdown({ timeout: 60_000 });
    await clique.bus.idle();
    for (let i = 0; i < 8; i++) {
      clock.advance(100);
      await clique.bus.idle();
    }
    // Two new owners, each asking c again every ackTimeout; each one's queries keep one size.
    expect(sizes.length).toBeGreaterThan(8);
    expect(new Set(sizes).size).toBeLessThanOrEqual(2);
    gate.open();
    await leaving;
  });
});
