import { readSeq, seq } from '../../test/sequence';
import { createMemoryClique, MemoryClique } from '../testing/clique';
import { ManualClock } from '../testing/manual-clock';
import { waitFor } from '../testing/wait-for';
import { Broker } from './broker';
import { ProtocolError } from './errors';
import { decodeFrame, encodeFrame, FrameType, InfoFrame } from './frame';
import type { U64 } from './bytes';
import { Key } from './key';
import { MemoryBus } from './memory-pubsub';
import { readHandoff } from './handoff-wire';
import { readStreams, StreamKind } from './publish-wire';
import { nodeSubject } from './subjects';
import { askingForParts, encodeViewAnswer, MAX_VIEW_POSITIONS, readViewPart, takesParts, ViewParts } from './view-answer';

const members = Array.from({ length: 768 }, (_, i) => new Key(i * 7919, i));
const streams = new Map<string, StreamKind>([
  ['orders', 'message'],
  ['quotes', 'request'],
]);

describe('view answers in parts', () => {
  it('answers whole when the answer fits or the asker takes no parts, and in parts within the limit otherwise', () => {
    const whole = encodeViewAnswer(5, members, streams, undefined);
    expect(whole).toHaveLength(1);
    expect(readViewPart(whole[0]!)).toBeUndefined();
    expect(encodeViewAnswer(5, members, streams, whole[0]!.length)).toEqual(whole);

    const parts = encodeViewAnswer(5, members, streams, 2048);
    // 52 bytes besides the positions (header, id, streams, part trailer): 249 positions a part.
    expect(parts.length).toBe(Math.ceil(768 / Math.floor((2048 - 52) / 8)));
    const listed: Key[] = [];
    parts.forEach((part, index) => {
      expect(part.length).toBeLessThanOrEqual(2048);
      const frame = decodeFrame(part) as InfoFrame;
      expect(frame).toMatchObject({ type: FrameType.Info, id: 5 });
      expect(readStreams(part)).toEqual(streams);
      expect(readViewPart(part)).toEqual({ index, count: parts.length });
      listed.push(...frame.neighbours);
    });
    expect(listed.map(String)).toEqual(members.map(String));

    // Not even one position fits beside the streams: whole, for the transport to refuse and report.
    expect(encodeViewAnswer(5, members, streams, 40)).toEqual(whole);
  });

  it('marks a question that takes parts, and leaves the PING readable as it was', () => {
    const ping = encodeFrame({ type: FrameType.Ping, id: 9, sender: new Key(1, 2) });
    const asking = askingForParts(ping);
    expect(decodeFrame(asking)).toEqual(decodeFrame(ping));
    expect(takesParts(asking)).toBe(true);
    expect(takesParts(ping)).toBe(false);
  });

  it('refuses a malformed part trailer', () => {
    const [part] = encodeViewAnswer(1, members, streams, 2048);
    const end = part!.length;
    const withTrailer = (index: number, count: number) => {
      const copy = part!.slice();
      copy.set([index >> 8, index & 0xff, count >> 8, count & 0xff], end - 4);
      return copy;
    };
    expect(() => readViewPart(withTrailer(0, 0))).toThrow(ProtocolError);
    expect(() => readViewPart(withTrailer(3, 3))).toThrow(ProtocolError);
    expect(() => readViewPart(part!.subarray(0, end - 2))).toThrow(ProtocolError);
    expect(readViewPart(withTrailer(2, 3))).toEqual({ index: 2, count: 3 });
  });

  it('collects parts in any order, once each, and drops answers whose parts disagree or list too much', () => {
    const parts = new ViewParts();
    const a = [new Key(0, 1)];
    const b = [new Key(0, 2), new Key(0, 3)];
    expect(parts.add(1, { index: 1, count: 3 }, b)).toBeUndefined();
    expect(parts.add(1, { index: 1, count: 3 }, b)).toBeUndefined();
    expect(parts.add(1, { index: 0, count: 3 }, a)).toBeUndefined();
    expect(parts.add(1, { index: 2, count: 3 }, [])?.map(String)).toEqual([...b, ...a].map(String));

    expect(parts.add(2, { index: 0, count: 2 }, a)).toBeUndefined();
    expect(() => parts.add(2, { index: 1, count: 3 }, b)).toThrow(ProtocolError);
    // Forgotten: its remaining part alone does not complete it.
    expect(parts.add(2, { index: 1, count: 2 }, b)).toBeUndefined();

    const many = Array.from({ length: MAX_VIEW_POSITIONS }, () => a[0]!);
    expect(parts.add(3, { index: 0, count: 2 }, many)).toBeUndefined();
    expect(() => parts.add(3, { index: 1, count: 2 }, a)).toThrow(ProtocolError);

    expect(parts.add(4, { index: 0, count: 2 }, a)).toBeUndefined();
    parts.forget(4);
    expect(parts.add(4, { index: 1, count: 2 }, b)).toBeUndefined();

    // Two answers at most are collected: a third drops the oldest (5), whose last part then completes nothing.
    const fresh = new ViewParts();
    expect(fresh.add(5, { index: 0, count: 2 }, a)).toBeUndefined();
    expect(fresh.add(6, { index: 0, count: 2 }, a)).toBeUndefined();
    expect(fresh.add(7, { index: 0, count: 2 }, a)).toBeUndefined();
    expect(fresh.add(6, { index: 1, count: 2 }, b)?.map(String)).toEqual([...a, ...b].map(String));
    expect(fresh.add(5, { index: 1, count: 2 }, b)).toBeUndefined();
  });

  it('contains a malformed part (counted, reported), and applies the answer once its good parts came', async () => {
    const bus = new MemoryBus();
    let question: { id: U64 } | undefined;
    // The publisher's own question is taken off the bus: only the parts sent below answer it.
    bus.setFault((d) => {
      if (d.from !== 'broker-1' || !d.subject.endsWith('.view')) return 'deliver';
      question = decodeFrame(d.data) as { id: U64 };
      return 'drop';
    });
    const clique = await createMemoryClique({
      size: 2,
      bus,
      options: { virtualNodes: 4, stabilization: { interval: 0 } },
      setup: (broker, i) => (i === 0 ? broker.handle('orders', () => undefined) : undefined),
    });
    try {
      const publisher = clique.brokers[1]!;
      await bus.idle();
      expect(question).toBeDefined();
      const ring = [...clique.brokers[0]!.snapshot().positions];
      // 43 bytes besides the positions: 2 of the 4 positions a part.
      const [first, second] = encodeViewAnswer(question!.id, ring, new Map([['orders', 'message']]), 60);
      const bad = first!.slice();
      bad[bad.length - 1] = 0; // a count of 0
      const peer = bus.connect('peer');
      const to = nodeSubject('_global', publisher.snapshot().nodeKey);
      for (const frame of [bad, first!, second!]) {
        peer.publish(to, frame);
        await bus.idle();
        if (frame !== second) expect(publisher.snapshot().members).toEqual([]);
      }
      // Its frame decodes: the trailer's fault is counted where the answer is acted on, as a malformed 'FSTR' is.
      expect(publisher.counters).toMatchObject({ contained: 1, malformed: 0 });
      expect(publisher.snapshot().members.map(String)).toEqual(ring.map(String));
    } finally {
      await clique.close();
    }
  });

  it("registers a joiner's answer parts only while they agree, and settles ownership with the last", async () => {
    const bus = new MemoryBus();
    let question: U64 | undefined;
    // The joiner's question and everything the member sends it are taken off the bus (its announcement would
    // teach the joiner all its positions): the joiner learns them only from the parts sent below.
    bus.setFault((d) => {
      if (d.from === 'member' && d.to === 'joiner') return 'drop';
      if (d.from !== 'joiner' || !d.subject.endsWith('.view')) return 'deliver';
      question = (decodeFrame(d.data) as { id: U64 }).id;
      return 'drop';
    });
    const clock = new ManualClock();
    const options = { virtualNodes: 8, stabilization: { interval: 0 }, ackTimeout: 100, clock };
    const member = new Broker(bus.connect('member'), { nodeName: 'member', ...options });
    const joiner = new Broker(bus.connect('joiner'), { nodeName: 'joiner', ...options });
    try {
      await member.handle('orders', () => undefined);
      await member.start();
      await bus.idle();
      let acquired = 0;
      joiner.on('acquired', () => void acquired++);
      await joiner.handle('orders', () => undefined);
      await joiner.start();
      await bus.idle();
      expect(question).toBeDefined();
      // 43 bytes besides the positions: 4 of the member's 8 positions a part.
      const parts = encodeViewAnswer(question!, [...member.snapshot().positions], new Map([['orders', 'message']]), 75);
      expect(parts).toHaveLength(2);
      const send = (part: Uint8Array, index: number, count: number) => {
        const copy = part.slice();
        copy.set([index >> 8, index & 0xff, count >> 8, count & 0xff], copy.length - 4);
        bus.connect().publish(nodeSubject('_global', joiner.snapshot().nodeKey), copy);
        return bus.idle();
      };
      await send(parts[0]!, 0, 2);
      expect(joiner.snapshot().members).toHaveLength(12);
      // A part that says 3 where the first said 2: contained, and none of its positions registered.
      await send(parts[1]!, 1, 3);
      expect(joiner.snapshot().members).toHaveLength(12);
      expect(joiner.counters.contained).toBe(1);
      expect(acquired).toBe(0);
      // The answer starts again; its last part ends the joiner's learning.
      await send(parts[0]!, 0, 2);
      expect(acquired).toBe(0);
      await send(parts[1]!, 1, 2);
      expect(joiner.snapshot().members).toHaveLength(16);
      expect(acquired).toBe(1);
      expect(clock.now()).toBe(0);
    } finally {
      await joiner.close();
      await member.close();
    }
  });

  it('takes the answer to a joiner\'s view question that comes after it stopped waiting, as the ring it asked for', async () => {
    const bus = new MemoryBus();
    let answer: Uint8Array | undefined;
    // While `withhold`, nothing of the members reaches the joiner; the view answer is kept to be sent late.
    let withhold = false;
    bus.setFault((d) => {
      if (!withhold || d.to !== 'joiner' || d.from === 'late') return 'deliver';
      const frame = decodeFrame(d.data);
      if (frame.type === FrameType.Info && frame.id !== 0) answer = d.data;
      return 'drop';
    });
    const clock = new ManualClock();
    const errors: Error[] = [];
    // 16 positions each: an unasked INFO may add 23 unknown positions (5 successors, 2, 16), the answer lists 32.
    const options = { virtualNodes: 16, stabilization: { interval: 0 }, ackTimeout: 100, clock, onError: (e: Error) => void errors.push(e) };
    const brokers = ['m1', 'm2', 'joiner'].map((name) => new Broker(bus.connect(name), { nodeName: name, ...options }));
    try {
      for (const broker of brokers) {
        await broker.handle('orders', () => undefined);
        withhold = broker === brokers[2];
        await broker.start();
        await bus.idle();
      }
      expect(answer).toBeDefined();
      await clock.advance(100);
      await bus.idle();
      const joiner = brokers[2]!;
      expect(joiner.snapshot().members).toHaveLength(16);
      // Learning ended on the ackTimeout; the answer comes now.
      bus.connect('late').publish(nodeSubject('_global', joiner.snapshot().nodeKey), answer!);
      await bus.idle();
      expect(joiner.snapshot().members).toHaveLength(48);
      expect(errors).toEqual([]);
    } finally {
      for (const broker of brokers.reverse()) await broker.close();
    }
  });

  // 3 brokers of 256 positions: a view answer of about 6 KiB; a member's answer to a JOIN (about 2.1 KiB) goes
  // in several INFOs below that (README, "Delivery guarantees and their limits").
  describe('on a bus whose max payload is smaller than one view answer', () => {
    /** Closed after each test, the last opened first. */
    const opened: { close(): Promise<void> }[] = [];
    const errors: Error[] = [];
    afterEach(async () => {
      for (const item of opened.splice(0).reverse()) await item.close();
      errors.length = 0;
    });

    async function bigClique(clock: ManualClock, handled: number[], bus = new MemoryBus({ maxPayload: 4608 })): Promise<MemoryClique> {
      const clique = await createMemoryClique({
        size: 4,
        bus,
        options: { stabilization: { interval: 0 }, ackTimeout: 100, clock, onError: (e) => void errors.push(e) },
        setup: (broker, i) => (i === 3 ? undefined : broker.handle('orders', (d) => void handled.push(readSeq(d.data)))),
      });
      opened.push(clique);
      await clique.converged();
      return clique;
    }

    it('lets a publisher learn every position, without a timer, and publish direct', async () => {
      const clock = new ManualClock();
      const handled: number[] = [];
      const answers: number[] = [];
      const bus = new MemoryBus({ maxPayload: 4608 });
      bus.setFault((d) => {
        if (d.to === 'broker-3' && decodeFrame(d.data).type === FrameType.Info) answers.push(d.data.length);
        return 'deliver';
      });
      const clique = await bigClique(clock, handled, bus);
      const publisher = clique.brokers[3]!;
      // The publisher started last and heard no JOIN: its view comes from its question's answer alone.
      await waitFor(() => publisher.snapshot().members.length === 768, { bus, what: 'the publisher to learn the ring' });
      expect(clock.now()).toBe(0);
      expect(publisher.snapshot().members.map(String)).toEqual(clique.expectedMembers().map(String));
      for (let i = 0; i < 30; i++) await publisher.publish('orders', seq(i), { key: `k${i}` });
      await waitFor(() => handled.length === 30, { bus });
      expect(clique.brokers.map((b) => b.counters.received)).toEqual([0, 0, 0, 0]);
      expect(publisher.counters.forwarded).toBeGreaterThan(0);
      // The publisher's one question (at start; stabilization is off) was answered in 2 parts of at most 4,608 bytes.
      expect(answers).toHaveLength(2);
      expect(Math.max(...answers)).toBeLessThanOrEqual(4608);
      expect(errors).toEqual([]);
    });

    it('answers a JOIN in several signed INFOs when one would not fit: the joiner learns every position, and that the member speaks handoff', async () => {
      // One INFO would list 263 positions with the announcement: 2,154 bytes.
      const bus = new MemoryBus({ maxPayload: 2048 });
      const infos: number[] = [];
      const queries: number[] = [];
      bus.setFault((d) => {
        const frame = decodeFrame(d.data);
        if (d.from === 'member' && d.to === 'joiner' && frame.type === FrameType.Info && frame.id === 0) infos.push(d.data.length);
        if (d.from === 'joiner' && d.to === 'member' && frame.type === FrameType.Ack && readHandoff(d.data)?.kind === 'query') queries.push(d.data.length);
        return 'deliver';
      });
      const clock = new ManualClock();
      const options = { stabilization: { interval: 0 }, ackTimeout: 100, clock, onError: (e: Error) => void errors.push(e) };
      for (const name of ['member', 'joiner']) {
        const broker = new Broker(bus.connect(name), { nodeName: name, ...options });
        opened.push(broker);
        await broker.handle('orders', () => undefined);
        await broker.start();
        await bus.idle();
      }
      const joiner = opened[1] as Broker;
      expect(infos.length).toBeGreaterThan(1);
      expect(Math.max(...infos)).toBeLessThanOrEqual(2048);
      expect(joiner.snapshot().members).toHaveLength(512);
      // It knew the member's announcement when it took keys over, so it asked (no ackTimeout passed): before,
      // the one INFO was refused, and the keys ran after an ackTimeout without asking.
      expect(queries.length).toBeGreaterThan(0);
      expect(clock.now()).toBe(0);
      expect(errors).toEqual([]);
    });

    it('lets a joining broker learn the ring from an answer in parts before it settles ownership', async () => {
      const clock = new ManualClock();
      const { bus } = await bigClique(clock, []);
      const joiner = new Broker(bus.connect('joiner'), { nodeName: 'joiner', stabilization: { interval: 0 }, ackTimeout: 100, clock, onError: (e) => void errors.push(e) });
      opened.push(joiner);
      await joiner.handle('orders', () => undefined);
      const known: number[] = [];
      joiner.on('acquired', () => void known.push(joiner.snapshot().members.length));
      await joiner.start();
      // No ackTimeout passes: only the answer can end the joiner's learning.
      await waitFor(() => known.length > 0, { bus, what: 'the joiner to settle ownership' });
      expect(clock.now()).toBe(0);
      expect(known[0]).toBe(1024);
      expect(errors).toEqual([]);
    });
  });
});
