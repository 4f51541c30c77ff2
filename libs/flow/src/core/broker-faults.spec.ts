import { seq, readSeq, fromUtf8 } from '../../test/sequence';
import { createMemoryClique, MemoryClique } from '../testing/clique';
import { ManualClock } from '../testing/manual-clock';
import { seededRandom } from '../testing/seeded-random';
import { waitFor } from '../testing/wait-for';
import { Broker, Delivery } from './broker';
import { DefaultCodec } from './codec';
import { CodecError, FlowError, ProtocolError, TimeoutError } from './errors';
import { decodeFrame, encodeFrame, FrameType } from './frame';
import { keyFromString } from './key';

/** Runs of thousands of messages: ample for a loaded CI machine, still bounded. */
const SLOW_TEST_MS = 30_000;

const utf8 = new TextEncoder();

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);

/** Errors that reports stand for: a rate-limit summary ("N more like this ...") stands for N. */
const represented = (errors: FlowError[]): number =>
  sum(errors.map((e) => Number(/^(\d+) more like this/.exec(e.message)?.[1] ?? 1)));

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
}
function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((res) => (resolve = res));
  return { promise, resolve };
}

/** A key owned by one of `broker`'s positions, in `view`'s ring. */
function keyOwnedBy(broker: Broker, view: Broker = broker): string {
  const positions = new Set(broker.snapshot().positions.map(String));
  for (let n = 0; n < 10_000; n++) if (positions.has(String(view.ownerOf(`key-${n}`)))) return `key-${n}`;
  throw new Error(`no key owned by ${broker.nodeKey}`);
}

describe('broker faults', () => {
  let clique: MemoryClique | undefined;
  afterEach(async () => {
    await clique?.close();
    clique = undefined;
  });

  it('handles every one of 10,000 messages that reached a live broker when a broker crashes mid-stream', async () => {
    const CRASHED = 2;
    const PUBLISHER = 5;
    const ACK_TIMEOUT = 50;
    let crashed = false;
    /** Handler runs by sequence number, counted only while the broker running them is live. */
    const handledTimes = new Array<number>(10_000).fill(0);
    let handledByCrashedAfterCrash = 0;
    clique = await createMemoryClique({
      size: 6,
      // Entry through the queue group and forwards (broker-direct.spec.ts covers direct publishing under faults).
      options: { virtualNodes: 4, ackTimeout: ACK_TIMEOUT, stabilization: { interval: 100 }, directRouting: false },
      setup: (broker, i) =>
        i === PUBLISHER
          ? undefined
          : broker.handle('orders', (d) => {
              if (i === CRASHED && crashed) handledByCrashedAfterCrash++;
              else handledTimes[readSeq(d.data)]++;
            }),
    });
    await clique.converged();
    const { bus, brokers } = clique;

    // "Reached a live broker": the bus handed the message to a broker's
    // connection that had not been killed at that moment, either on the stream
    // subject or inside a FWD frame on one of its node subjects. A message in a
    // FWD the crashed broker published before its crash counts when that FWD is
    // delivered to a live broker.
    const codec = new DefaultCodec();
    const reachedLive = new Set<number>();
    bus.setFault((delivery) => {
      const live = !(crashed && delivery.to === `broker-${CRASHED}`);
      if (live && delivery.subject === 'orders') reachedLive.add(readSeq(codec.decode('orders', delivery.data).data));
      if (live && delivery.subject.startsWith('_global.')) {
        const frame = decodeFrame(delivery.data);
        if (frame.type === FrameType.Fwd) reachedLive.add(readSeq(frame.msg.data));
      }
      return 'deliver';
    });

    const random = seededRandom(21);
    const publishers = [0, 1, 3, 4, PUBLISHER];
    for (let n = 0; n < 10_000; n++) {
      const from = n < 5_000 ? n % 6 : publishers[n % publishers.length];
      await brokers[from].publish('orders', seq(n), { key: `customer-${random.int(3_000)}` });
      if (n % 200 === 199) await bus.idle();
      if (n === 4_999) {
        clique.crash(CRASHED);
        crashed = true;
      }
    }
    const lost = (): number[] => [...reachedLive].filter((n) => handledTimes[n] === 0);
    await waitFor(() => lost().length === 0, { bus, timeoutMs: 15_000, what: 'every message that reached a live broker' });

    const duplicates = handledTimes.filter((t) => t > 1).length;
    const survivors = brokers.filter((_, i) => i !== CRASHED && i !== PUBLISHER);
    const counters = survivors.map((b) => b.counters);
    expect(lost()).toEqual([]);
    // At least once: a message runs twice only when its forward was retried after the crash.
    expect(duplicates).toBeLessThanOrEqual(sum(counters.map((c) => c.retried)));
    expect(reachedLive.size).toBe(10_000);
  }, SLOW_TEST_MS);

  describe('malformed input', () => {
    const random = seededRandom(99);
    const join = encodeFrame({ type: FrameType.Join, sender: keyFromString('intruder') });
    const msg = encodeFrame({
      type: FrameType.Msg,
      msg: { id: 1, reply: '', stream: 'orders', partitionKey: utf8.encode('k'), data: utf8.encode('x') },
    });
    const unknownType = (() => {
      const bytes = new Uint8Array(12 + 8);
      bytes.set(join.subarray(0, 4));
      bytes.set(utf8.encode('XXXX'), 4);
      bytes.set(join.subarray(8, 12), 8);
      return bytes;
    })();
    const overlong = (() => {
      const bytes = msg.slice();
      new DataView(bytes.buffer).setUint32(8, 0x7fffffff);
      return bytes;
    })();
    const frames: [string, Uint8Array][] = [
      ['random bytes', random.bytes(64)],
      ['a frame shorter than its header', join.subarray(0, 7)],
      ['a truncated JOIN', join.subarray(0, 15)],
      ['a payload length beyond the bytes present', overlong],
      ['an unknown frame type', unknownType],
      ['an empty message', new Uint8Array(0)],
    ];

    async function malformedClique() {
      const errors: FlowError[][] = [[], [], []];
      const handled: string[] = [];
      clique = await createMemoryClique({
        size: 3,
        options: (i) => ({
          nodeName: `node-${i + 1}`,
          virtualNodes: 4,
          stabilization: { interval: 0 },
          onError: (e) => errors[i].push(e),
        }),
        setup: async (broker) => {
          await broker.handle('orders', (d: Delivery) => void handled.push(fromUtf8(d.data)));
          await broker.handleRequest('quote', (d) => d.data);
        },
      });
      await clique.converged();
      const rogue = clique.bus.connect('rogue');
      return { errors, handled, rogue, rings: () => clique!.brokers.map((b) => b.snapshot().members.join()) };
    }

    /** Routing still works: keyed messages are handled once each and a request is answered. */
    async function stillRoutes(handled: string[]): Promise<void> {
      const [first] = clique!.brokers;
      for (let n = 0; n < 100; n++) await first.publish('orders', utf8.encode(`after-${n}`), { key: `k${n}` });
      await waitFor(() => handled.length >= 100, { bus: clique!.bus });
      expect(handled.filter((h) => h.startsWith('after-')).sort()).toEqual(
        Array.from({ length: 100 }, (_, n) => `after-${n}`).sort(),
      );
      expect(fromUtf8(await first.request('quote', utf8.encode('still here'), { key: 'k1' }))).toBe('still here');
    }

    it.each(frames)('counts %s on node, clique and stream subjects as malformed and carries on', async (_name, bytes) => {
      const { errors, handled, rogue, rings } = await malformedClique();
      const before = rings();
      const [b0] = clique!.brokers;
      const virtualPosition = b0.snapshot().positions.find((p) => !p.equals(b0.nodeKey))!;
      rogue.publish(`_global.${b0.nodeKey}`, bytes); // b0: 1
      rogue.publish(`_global.${virtualPosition}`, bytes); // b0: 1
      rogue.publish('_global', bytes); // every member: 3
      rogue.publish('orders', bytes); // one member of the queue group: 1
      rogue.publish('quote', bytes); // one member of the queue group: 1
      await clique!.bus.idle();

      const counters = clique!.brokers.map((b) => b.counters);
      expect(sum(counters.map((c) => c.malformed))).toBe(7);
      expect(counters[0].malformed).toBeGreaterThanOrEqual(3);
      // Rate limited per broker and kind: each broker that saw some reported the first at once.
      const reported = errors.flat();
      expect(reported.length).toBeGreaterThanOrEqual(4);
      expect(reported.length).toBeLessThan(7);
      errors.forEach((list, i) => expect(list.length > 0).toBe(counters[i].malformed > 0));
      for (const error of reported) expect(error instanceof ProtocolError || error instanceof CodecError).toBe(true);
      expect(clique!.bus.stats.handlerErrors).toBe(0);
      expect(rings()).toEqual(before);
      await stillRoutes(handled);
      // Closing sends the summaries of the suppressed ones: all seven are accounted for.
      await clique!.close();
      expect(represented(errors.flat())).toBe(7);
    });

    it('counts frames that decode but do not belong where they arrive as malformed', async () => {
      const { errors, handled, rogue, rings } = await malformedClique();
      const before = rings();
      const [b0] = clique!.brokers;
      rogue.publish(`_global.${b0.nodeKey}`, msg); // MSG on a node subject
      rogue.publish('_global', msg); // MSG on the clique subject, to every member
      rogue.publish('quote', join); // JOIN on a request stream
      await clique!.bus.idle();

      const reported = errors.flat();
      expect(reported.map((e) => e.code)).toEqual(Array(5).fill('FLOW_PROTOCOL'));
      expect(sum(clique!.brokers.map((b) => b.counters.malformed))).toBe(5);
      expect(rings()).toEqual(before);
      expect(handled).toEqual([]);
      await stillRoutes(handled);
    });

    it('reports a stream message the codec cannot decode as a CodecError naming the subject', async () => {
      const { errors, rogue } = await malformedClique();
      const cut = new DefaultCodec().encode({ stream: 'orders', partitionKey: utf8.encode('key'), data: new Uint8Array(0) });
      rogue.publish('orders', cut.subarray(0, 9));
      await clique!.bus.idle();
      const reported = errors.flat();
      expect(reported).toHaveLength(1);
      expect(reported[0]).toBeInstanceOf(CodecError);
      expect(reported[0]).toMatchObject({ code: 'FLOW_CODEC', subject: 'orders' });
    });
  });

  describe('graceful shutdown', () => {
    it('waits for a running handler before it resolves, after leaving the ring', async () => {
      const gate = deferred();
      let finished = false;
      clique = await createMemoryClique({
        size: 2,
        options: { virtualNodes: 4, stabilization: { interval: 0 } },
        setup: (broker) =>
          broker.handle('orders', async () => {
            await gate.promise;
            finished = true;
          }),
      });
      await clique.converged();
      const [leaving, staying] = clique.brokers;
      const left: string[] = [];
      staying.on('left', (key) => left.push(String(key)));
      await staying.publish('orders', seq(1), { key: keyOwnedBy(leaving) });
      await waitFor(() => leaving.inFlight === 1, { bus: clique.bus });

      let resolved = false;
      const shutdown = leaving.shutdown({ timeout: 5_000 }).then(() => (resolved = true));
      await clique.bus.idle();
      await new Promise((resolve) => setImmediate(resolve));
      expect(resolved).toBe(false);
      expect(left.sort()).toEqual(leaving.snapshot().positions.map(String).sort());

      gate.resolve();
      await shutdown;
      expect(finished).toBe(true);
      expect(leaving.inFlight).toBe(0);
      await expect(leaving.publish('orders', seq(2))).rejects.toMatchObject({ code: 'FLOW_CLOSED' });
    });

    it('rejects with FLOW_TIMEOUT when a handler never finishes, and closes anyway', async () => {
      const clock = new ManualClock();
      clique = await createMemoryClique({
        size: 1,
        options: { stabilization: { interval: 0 }, clock },
        setup: (broker) => broker.handle('orders', () => new Promise<void>(() => undefined)),
      });
      const [broker] = clique.brokers;
      await broker.publish('orders', seq(1), { key: 'k' });
      await waitFor(() => broker.inFlight === 1, { bus: clique.bus });

      const outcome = broker.shutdown({ timeout: 100 }).then(
        () => undefined,
        (error: unknown) => error,
      );
      await clique.bus.idle();
      clock.advance(99);
      let settled = false;
      void outcome.then(() => (settled = true));
      await new Promise((resolve) => setImmediate(resolve));
      expect(settled).toBe(false);

      clock.advance(1);
      const error = await outcome;
      expect(error).toBeInstanceOf(TimeoutError);
      expect(error).toMatchObject({ code: 'FLOW_TIMEOUT', timeoutMs: 100 });
      await expect(broker.publish('orders', seq(2))).rejects.toMatchObject({ code: 'FLOW_CLOSED' });
    });

    it('loses no message published while one broker shuts down', async () => {
      const handledTimes = new Array<number>(3_000).fill(0);
      clique = await createMemoryClique({
        size: 4,
        options: { virtualNodes: 4, stabilization: { interval: 0 } },
        setup: (broker, i) => (i < 3 ? broker.handle('orders', (d) => void handledTimes[readSeq(d.data)]++) : undefined),
      });
      await clique.converged();
      const { brokers, bus } = clique;
      const publisher = brokers[3];
      const dropped: FlowError[] = [];
      brokers[1].on('error', (e) => dropped.push(e));
      let shutdown: Promise<void> | undefined;
      for (let n = 0; n < 3_000; n++) {
        await publisher.publish('orders', seq(n), { key: `customer-${n % 500}` });
        // Mid-chunk: FWDs sent before the peers see its LEAVs reach the leaving broker after it
        // closed; they must time out and be routed again, not be lost.
        if (n === 1_400) shutdown = brokers[1].shutdown({ timeout: 2_000 });
        if (n % 250 === 249) await bus.idle();
      }
      await shutdown;
      const lost = (): number => handledTimes.filter((t) => t === 0).length;
      await waitFor(() => lost() === 0, { bus, timeoutMs: 5_000 }).catch(() => undefined);

      expect({ lost: lost(), droppedByLeaving: dropped.map((e) => e.code) }).toEqual({ lost: 0, droppedByLeaving: [] });
    }, SLOW_TEST_MS);
  });

  it('reports and counts a failing message handler, and keeps handling', async () => {
    const errors: FlowError[] = [];
    const handled: number[] = [];
    clique = await createMemoryClique({
      size: 1,
      options: {
        stabilization: { interval: 0 },
        onError: (e) => {
          errors.push(e);
          throw new Error('a failing error callback must not break the broker');
        },
      },
      setup: (broker) =>
        broker.handle('orders', async (d) => {
          const n = readSeq(d.data);
          if (n % 2 === 0) throw new Error(`bad order ${n}`);
          handled.push(n);
        }),
    });
    const [broker] = clique.brokers;
    for (let n = 0; n < 10; n++) await broker.publish('orders', seq(n), { key: 'same-key' });
    await waitFor(() => broker.counters.failed + broker.counters.handled === 10, { bus: clique.bus });

    expect(handled).toEqual([1, 3, 5, 7, 9]);
    expect(broker.counters).toMatchObject({ handled: 5, failed: 5 });
    expect(errors.map((e) => e.message)).toEqual([0, 2, 4, 6, 8].map((n) => expect.stringContaining(`bad order ${n}`)));
    expect(errors[0].cause).toEqual(new Error('bad order 0'));
  });
});
