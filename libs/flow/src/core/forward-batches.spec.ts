import { flowBesideGo } from '../../test/go-broker';
import { keysOwnedBy } from '../../test/ownership-probes';
import { fromUtf8, readSeq, seq } from '../../test/sequence';
import { createMemoryClique, MemoryClique } from '../testing/clique';
import { ManualClock } from '../testing/manual-clock';
import { waitFor } from '../testing/wait-for';
import type { Delivery } from './broker';
import { MemoryBus } from './memory-pubsub';
import { ProtocolError } from './errors';
import { BATCH_BYTES, forEachBatched, ForwardBatcher, ForwardRoutes, isForwardBatch } from './forward-batches';
import { decodeFrame, encodeFrame, FrameType, FwdFrame, fwdSize } from './frame';
import { appendNotice, LARGEST_TRAILER, PublishFlags, readNotice, readPublishFlags } from './publish-wire';
import { Key } from './key';
import { NodeSubjects, nodeSubject } from './subjects';
import { ringPositions } from './virtual-nodes';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

/** What `send` was called with, in order. */
function recorder() {
  const sent: { subject: string; data: Uint8Array }[] = [];
  return { sent, send: (subject: string, data: Uint8Array) => void sent.push({ subject, data }) };
}

function framesOf(data: Uint8Array): number[][] {
  const frames: number[][] = [];
  forEachBatched(data, (frame) => frames.push([...frame]));
  return frames;
}

/** A batch whose payload is `body` as given (lengths and frames written by the caller). */
function rawBatch(body: number[], declared = body.length): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 1);
  view.setUint32(4, 0x46424154);
  view.setUint32(8, declared);
  out.set(body, 12);
  return out;
}

describe('forward batches', () => {
  describe('ForwardBatcher', () => {
    it('sends the frames queued for one subject in one job as one batch, in order, once the microtasks ran', async () => {
      const { sent, send } = recorder();
      const batcher = new ForwardBatcher(send);
      batcher.add('a', bytes(1, 2));
      batcher.add('b', bytes(9));
      batcher.add('a', bytes(3));
      expect(sent).toHaveLength(0);
      await Promise.resolve();
      expect(sent.map((s) => s.subject)).toEqual(['a', 'b']);
      expect(isForwardBatch(sent[0].data)).toBe(true);
      expect(framesOf(sent[0].data)).toEqual([[1, 2], [3]]);
      // A lone frame goes as it is: no container.
      expect([...sent[1].data]).toEqual([9]);
    });

    it('sends a batch at once when BATCH_BYTES are queued, and sends a frame alone only after what is queued for its node', async () => {
      const { sent, send } = recorder();
      const batcher = new ForwardBatcher(send);
      const big = new Uint8Array(BATCH_BYTES / 2);
      batcher.add('a', big);
      expect(sent).toHaveLength(0);
      batcher.add('a', big);
      expect(sent).toHaveLength(1);
      expect(framesOf(sent[0].data)).toHaveLength(2);

      batcher.add('a', bytes(1));
      batcher.add('a', bytes(2));
      batcher.sendAlone('a.position', bytes(3), undefined, 'a');
      batcher.sendAlone('b.position', bytes(4), undefined, 'b');
      expect(sent.slice(1).map((s) => s.subject)).toEqual(['a', 'a.position', 'b.position']);
      expect(framesOf(sent[1].data)).toEqual([[1], [2]]);
      await Promise.resolve();
      expect(sent).toHaveLength(4);
    });

    it("keeps every batch within the transport's max payload, sending what is queued before a frame that would take it over", async () => {
      const { sent, send } = recorder();
      let maxPayload: number | undefined = 100;
      const batcher = new ForwardBatcher(send, () => maxPayload);
      const frame = (n: number, length: number): Uint8Array => new Uint8Array(length).fill(n);
      // 12 bytes of container header, then 4 + 20 per frame: 3 frames fit in 100 bytes (84), 4 would not (108).
      for (let n = 1; n <= 7; n++) batcher.add('a', frame(n, 20));
      // A frame that fits alone but not beside another: what is queued goes first, then it goes as it is.
      batcher.add('a', frame(8, 90));
      batcher.add('a', frame(9, 20));
      await Promise.resolve();
      expect(sent.every((s) => s.data.length <= 100)).toBe(true);
      expect(sent.map((s) => (isForwardBatch(s.data) ? framesOf(s.data).map((f) => f[0]) : [s.data[0]]))).toEqual([[1, 2, 3], [4, 5, 6], [7], [8], [9]]);
      expect(isForwardBatch(sent[3].data)).toBe(false);

      // The limit is read as each batch starts: a transport that reconnected to a server with another max_payload.
      sent.length = 0;
      maxPayload = undefined;
      for (let n = 1; n <= 7; n++) batcher.add('a', frame(n, 20));
      await Promise.resolve();
      expect(sent.map((s) => framesOf(s.data).length)).toEqual([7]);
    });

    it('sends everything queued on flush()', () => {
      const { sent, send } = recorder();
      const batcher = new ForwardBatcher(send);
      batcher.add('a', bytes(1));
      batcher.add('b', bytes(2));
      batcher.flush();
      expect(sent.map((s) => [s.subject, [...s.data]])).toEqual([
        ['a', [1]],
        ['b', [2]],
      ]);
    });

    // Destinations stay queued from turn to turn (no Map.clear() per turn: see flush()); one not sent to is not sent anything.
    it('sends each turn only to the destinations it queued for, in the order they were first queued', async () => {
      const { sent, send } = recorder();
      const batcher = new ForwardBatcher(send);
      batcher.add('a', bytes(1));
      batcher.add('b', bytes(2));
      await Promise.resolve();
      batcher.add('b', bytes(3));
      batcher.add('c', bytes(4));
      batcher.add('b', bytes(5));
      await Promise.resolve();
      batcher.add('a', bytes(6));
      await Promise.resolve();
      expect(sent.map((s) => [s.subject, isForwardBatch(s.data) ? framesOf(s.data) : [...s.data]])).toEqual([
        ['a', [1]],
        ['b', [2]],
        ['b', [[3], [5]]],
        ['c', [4]],
        ['a', [6]],
      ]);
    });
  });

  describe('forEachBatched', () => {
    it.each([
      ['a declared payload beyond the bytes present', rawBatch([0, 0, 0, 1, 7], 9), [], /exceeds/],
      ['a length cut short', rawBatch([0, 0, 0, 1, 7, 0, 0]), [[7]], /bytes left/],
      ['a frame overrunning the batch', rawBatch([0, 0, 0, 1, 7, 0, 0, 0, 9, 1]), [[7]], /overruns/],
      ['a batch inside a batch', rawBatch([0, 0, 0, 1, 7, 0, 0, 0, 12, ...rawBatch([])]), [[7]], /inside/],
    ])('throws a ProtocolError on %s, after the frames before it', (_what, data, before, message) => {
      const frames: number[][] = [];
      let thrown: unknown;
      try {
        forEachBatched(data, (frame) => frames.push([...frame]));
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(ProtocolError);
      expect(String((thrown as Error).message)).toMatch(message);
      expect(frames).toEqual(before);
    });
  });

  /** A node with 4 ring positions; `owner` and `other` are two of them. */
  const node = new Key(7, 7);
  const target = { node, virtualNodes: 4 };
  const [owner, other] = ringPositions(node, 4);

  describe('ForwardRoutes', () => {
    it('batches first sends to a position once a notice named its node, and sends resends and headed FWDs alone', async () => {
      const { sent, send } = recorder();
      const subjects = new NodeSubjects('c');
      const routes = new ForwardRoutes(subjects, send, true);
      routes.send(owner, owner.toString(), bytes(1), undefined, true);
      routes.learn(owner.toString(), target);
      routes.send(owner, owner.toString(), bytes(2), undefined, true);
      routes.send(owner, owner.toString(), bytes(3), undefined, true);
      routes.send(owner, owner.toString(), bytes(4), undefined, false);
      routes.send(owner, owner.toString(), bytes(5), { traceparent: 'x' }, true);
      await Promise.resolve();
      expect(sent.map((s) => s.subject)).toEqual([subjects.of(owner), subjects.of(node), subjects.of(owner), subjects.of(owner)]);
      expect(framesOf(sent[1].data)).toEqual([[2], [3]]);
      expect([...sent[2].data]).toEqual([4]);
    });

    it('stops batching to a position whose notice no longer names a node, or that was found dead; never batches when off', async () => {
      const { sent, send } = recorder();
      const subjects = new NodeSubjects('c');
      const routes = new ForwardRoutes(subjects, send, true);
      routes.learn(owner.toString(), target);
      routes.learn(other.toString(), target);
      routes.learn(owner.toString(), undefined);
      routes.forget(other.toString());
      routes.send(owner, owner.toString(), bytes(1), undefined, true);
      routes.send(other, other.toString(), bytes(2), undefined, true);
      const off = new ForwardRoutes(subjects, send, false);
      off.learn(owner.toString(), target);
      off.send(owner, owner.toString(), bytes(3), undefined, true);
      await Promise.resolve();
      expect(sent.map((s) => s.subject)).toEqual([subjects.of(owner), subjects.of(other), subjects.of(owner)]);
    });
  });

  describe('the notice extension', () => {
    const ack = () => encodeFrame({ type: FrameType.Ack, id: 0, data: new Uint8Array(0) });

    it('round-trips the sender and its virtual nodes after the ids, and reads a notice without it as before', () => {
      const notice = readNotice(appendNotice(ack(), [1], [2 ** 40], target));
      expect(notice?.accepted).toEqual([1]);
      expect(notice?.handled).toEqual([2 ** 40]);
      expect(notice?.batchTo?.node.equals(node)).toBe(true);
      expect(notice?.batchTo?.virtualNodes).toBe(4);
      expect(readNotice(appendNotice(ack(), [1], []))?.batchTo).toBeUndefined();
      // Bytes after the ids that are not the extension are ignored, as older readers ignore the extension.
      const other = appendNotice(ack(), [1], []);
      const padded = new Uint8Array(other.length + 14);
      padded.set(other);
      expect(readNotice(padded)?.batchTo).toBeUndefined();
    });

    it('refuses a truncated extension and one with 0 or more than 4096 virtual nodes', () => {
      const whole = appendNotice(ack(), [1], [], target);
      expect(() => readNotice(whole.subarray(0, whole.length - 1))).toThrow(ProtocolError);
      for (const virtualNodes of [0, 4097]) {
        const bad = whole.slice();
        bad[bad.length - 2] = virtualNodes >>> 8;
        bad[bad.length - 1] = virtualNodes & 0xff;
        expect(() => readNotice(bad)).toThrow(/virtual nodes/);
      }
    });
  });

  describe('ForwardRoutes learning', () => {
    it('learns nothing from a notice whose sender does not hold the position (a late notice from an earlier owner)', async () => {
      const { sent, send } = recorder();
      const subjects = new NodeSubjects('c');
      const routes = new ForwardRoutes(subjects, send, true);
      const elsewhere = { node: new Key(9, 9), virtualNodes: 4 };
      routes.learn(owner.toString(), elsewhere);
      routes.send(owner, owner.toString(), bytes(1), undefined, true);
      routes.send(owner, owner.toString(), bytes(2), undefined, true);
      // Learned from its own node, the position's FWDs go there, and stay there after another's late notice.
      routes.learn(owner.toString(), target);
      routes.learn(owner.toString(), elsewhere);
      routes.send(owner, owner.toString(), bytes(3), undefined, true);
      routes.send(owner, owner.toString(), bytes(4), undefined, true);
      await Promise.resolve();
      expect(sent.map((s) => s.subject)).toEqual([subjects.of(owner), subjects.of(owner), subjects.of(node)]);
      expect(framesOf(sent[2].data)).toEqual([[3], [4]]);
    });
  });

  describe('ForwardRoutes asks', () => {
    /** A clock that reads `ms`. */
    const at = (ms: number) => ({ now: () => ms });

    it('asks once per position and interval, learns from the answer to the ask, and never asks when off or known', async () => {
      const { sent, send } = recorder();
      const subjects = new NodeSubjects('c');
      const routes = new ForwardRoutes(subjects, send, true);
      expect(routes.shouldAsk(owner.toString(), 10, at(0), 100)).toBe(true);
      expect(routes.shouldAsk(owner.toString(), 11, at(50), 100)).toBe(false);
      expect(routes.shouldAsk(owner.toString(), 12, at(100), 100)).toBe(true);
      routes.answered(99, target); // not an ask
      routes.send(owner, owner.toString(), bytes(1), undefined, true);
      routes.answered(12, target);
      // Known to take batches: not asked, and the clock not even read.
      const unread = {
        now: (): number => {
          throw new Error('the clock was read');
        },
      };
      expect(routes.shouldAsk(owner.toString(), 13, unread, 100)).toBe(false);
      routes.send(owner, owner.toString(), bytes(2), undefined, true);
      routes.send(owner, owner.toString(), bytes(3), undefined, true);
      await Promise.resolve();
      expect(sent.map((s) => s.subject)).toEqual([subjects.of(owner), subjects.of(node)]);
      expect(new ForwardRoutes(subjects, send, false).shouldAsk(owner.toString(), 1, at(0), 100)).toBe(false);
    });
  });

  describe('between brokers', () => {
    let clique: MemoryClique | undefined;
    afterEach(async () => {
      await clique?.close();
      clique = undefined;
    });

    /** 3 brokers handling 'orders' (recording each key's sequence numbers), a publisher (index 3); all batch. */
    async function batchingClique(handled: Map<string, number[]>, clock: ManualClock, bus?: MemoryBus) {
      const record = (d: Delivery) => {
        const key = fromUtf8(d.partitionKey);
        handled.set(key, [...(handled.get(key) ?? []), readSeq(d.data)]);
      };
      clique = await createMemoryClique({
        size: 4,
        options: { virtualNodes: 4, stabilization: { interval: 0 }, ackTimeout: 100, clock, batchForwards: true },
        bus,
        setup: (broker, i) => (i === 3 ? undefined : broker.handle('orders', record)),
      });
      await clique.converged();
      const publisher = clique.brokers[3];
      await waitFor(() => publisher.snapshot().members.length === 12, { bus: clique.bus, what: 'the publisher to learn the ring' });
      return { publisher, bus: clique.bus, brokers: clique.brokers };
    }

    it('sends what a publisher publishes in one turn to one owner as one batch, once the owner said it takes them; each runs once, in order', async () => {
      const clock = new ManualClock();
      const handled = new Map<string, number[]>();
      const { publisher, bus, brokers } = await batchingClique(handled, clock);
      const keys = keysOwnedBy(brokers[1], brokers[0], 3);
      const batches: number[] = [];
      bus.setFault((d) => {
        if (d.to === 'broker-1' && isForwardBatch(d.data)) batches.push(framesOf(d.data).length);
        return 'deliver';
      });
      // A first publish per key (each key's position) is answered by a notice that names broker 1's node key.
      for (const key of keys) await publisher.publish('orders', seq(0), { key });
      await bus.idle();
      expect(batches).toEqual([]);
      const all = [];
      for (let n = 1; n <= 30; n++) all.push(publisher.publish('orders', seq(n), { key: keys[n % 3] }));
      await Promise.all(all);
      await bus.idle();
      expect(batches).toEqual([30]);
      expect(handled.get(keys[0])).toEqual([0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30]);
      expect(handled.get(keys[1])).toEqual([0, 1, 4, 7, 10, 13, 16, 19, 22, 25, 28]);
      expect(handled.get(keys[2])).toEqual([0, 2, 5, 8, 11, 14, 17, 20, 23, 26, 29]);
      expect(brokers[1].counters.handled).toBe(33);
    });

    it("keeps batches within the bus's max payload, and refuses at once a publish or request that could not cross it", async () => {
      const clock = new ManualClock();
      const handled = new Map<string, number[]>();
      const { publisher, bus, brokers } = await batchingClique(handled, clock, new MemoryBus({ maxPayload: 1024 }));
      const keys = keysOwnedBy(brokers[1], brokers[0], 3);
      const payload = (n: number, length = 200): Uint8Array => {
        const data = new Uint8Array(length);
        data.set(seq(n));
        return data;
      };
      let largest = 0;
      const batches: number[] = [];
      bus.setFault((d) => {
        largest = Math.max(largest, d.data.length);
        if (d.to === 'broker-1' && isForwardBatch(d.data)) batches.push(framesOf(d.data).length);
        return 'deliver';
      });
      for (const key of keys) await publisher.publish('orders', payload(0), { key });
      const all = [];
      for (let n = 1; n <= 30; n++) all.push(publisher.publish('orders', payload(n), { key: keys[n % 3] }));
      await Promise.all(all);
      await bus.idle();
      // About 260 bytes per frame: 3 to a batch of at most 1,024 bytes, where 16 KiB would have taken all 30.
      expect(largest).toBeLessThanOrEqual(1024);
      expect(batches).toEqual([3, 3, 3, 3, 3, 3, 3, 3, 3, 3]);
      expect(handled.get(keys[0])).toEqual([0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30]);
      expect(publisher.counters.retried).toBe(0);

      // The largest message that fits is taken; one byte more is refused before anything is sent.
      const utf8 = new TextEncoder();
      const room = 1024 - fwdSize({ id: 0, reply: '', stream: 'orders', partitionKey: utf8.encode(keys[0]), data: new Uint8Array(0) }, LARGEST_TRAILER);
      await publisher.publish('orders', payload(31, room), { key: keys[0] });
      const published = bus.stats.published;
      const refusal = { name: 'TransportError', code: 'FLOW_TRANSPORT', message: expect.stringContaining('above the max payload of 1024') };
      await expect(publisher.publish('orders', payload(32, room + 1), { key: keys[0] })).rejects.toMatchObject(refusal);
      await expect(publisher.publish('orders', payload(33, 2000))).rejects.toMatchObject(refusal);
      await expect(publisher.request('orders', payload(34, 2000), { key: keys[0], timeout: 50 })).rejects.toMatchObject(refusal);
      expect(bus.stats.published).toBe(published);
      await bus.idle();
      expect(handled.get(keys[0])!.slice(-1)).toEqual([31]);
      expect(publisher.inFlight).toBe(0);
    });

    it("splits an owner's notices so that each fits the bus's max payload: every publish is accepted without a retry", async () => {
      const clock = new ManualClock();
      const handled = new Map<string, number[]>();
      const { publisher, bus, brokers } = await batchingClique(handled, clock, new MemoryBus({ maxPayload: 300 }));
      const keys = keysOwnedBy(brokers[1], brokers[0], 3);
      for (const key of keys) await publisher.publish('orders', seq(0), { key });
      const notices: number[] = [];
      let largest = 0;
      bus.setFault((d) => {
        largest = Math.max(largest, d.data.length);
        const notice = d.to === 'broker-3' ? readNotice(d.data) : undefined;
        if (notice !== undefined) notices.push(notice.accepted.length + notice.handled.length);
        return 'deliver';
      });
      const all = [];
      for (let n = 1; n <= 50; n++) all.push(publisher.publish('orders', seq(n), { key: keys[n % 3] }));
      // No timer runs on the manual clock: only notices settle these.
      await Promise.all(all);
      await bus.idle();
      // (300 - 46) / 8 = 31 ids fit one notice.
      expect(notices).toEqual([31, 19]);
      expect(largest).toBeLessThanOrEqual(300);
      expect(publisher.counters.retried).toBe(0);
      expect(handled.get(keys[1])).toEqual([0, 1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31, 34, 37, 40, 43, 46, 49]);
    });

    it('lets a fire-and-forget publisher ask whether an owner takes batches, then batches its publishes', async () => {
      const clock = new ManualClock();
      const handled = new Map<string, number[]>();
      const { publisher, bus, brokers } = await batchingClique(handled, clock);
      const [key] = keysOwnedBy(brokers[1], brokers[0], 1);
      const asks: number[] = [];
      const batches: number[] = [];
      bus.setFault((d) => {
        if (d.to !== 'broker-1') return 'deliver';
        if (isForwardBatch(d.data)) batches.push(framesOf(d.data).length);
        else if (readPublishFlags(d.data) !== undefined && (readPublishFlags(d.data)! & PublishFlags.AskBatches) !== 0) asks.push(readSeq((decodeFrame(d.data) as FwdFrame).msg.data));
        return 'deliver';
      });
      await publisher.publish('orders', seq(0), { key, ack: false });
      await bus.idle();
      // In one job: awaiting each would let the batch go after every publish (a lone frame each).
      const sent = [];
      for (let n = 1; n <= 10; n++) sent.push(publisher.publish('orders', seq(n), { key, ack: false }));
      await Promise.all(sent);
      await bus.idle();
      expect(asks).toEqual([0]);
      expect(batches).toEqual([10]);
      expect(handled.get(key)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    });

    it('sends publishes of a lost batch again alone: all are handled once, in order', async () => {
      const clock = new ManualClock();
      const handled = new Map<string, number[]>();
      const { publisher, bus, brokers } = await batchingClique(handled, clock);
      const [key] = keysOwnedBy(brokers[2], brokers[0], 1);
      let dropped = 0;
      // Every batch is lost, as an owner that no longer takes batches would ignore it.
      bus.setFault((d) => (d.to === 'broker-2' && isForwardBatch(d.data) ? (dropped++, 'drop') : 'deliver'));
      await publisher.publish('orders', seq(0), { key });
      const all = [1, 2, 3, 4, 5].map((n) => publisher.publish('orders', seq(n), { key }));
      await waitFor(() => handled.get(key)?.length === 6, { bus, clock, stepMs: 20, what: 'the resends' });
      await Promise.all(all);
      expect(dropped).toBe(1);
      expect(handled.get(key)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(brokers[2].counters.handled).toBe(6);
    });

    it('sends an accepted publish whose handled notice was lost again alone, not in a batch', async () => {
      const clock = new ManualClock();
      const handled = new Map<string, number[]>();
      clique = await createMemoryClique({
        size: 4,
        options: { virtualNodes: 4, stabilization: { interval: 0 }, ackTimeout: 100, clock, batchForwards: true },
        // Handlers take 10 ms of the manual clock: "accepted" goes out before "handled".
        setup: (broker, i) =>
          i === 3
            ? undefined
            : broker.handle('orders', (d: Delivery) => new Promise<void>((resolve) => clock.setTimeout(() => {
                const key = fromUtf8(d.partitionKey);
                handled.set(key, [...(handled.get(key) ?? []), readSeq(d.data)]);
                resolve();
              }, 10))),
      });
      await clique.converged();
      const { bus, brokers } = clique;
      const publisher = brokers[3];
      await waitFor(() => publisher.snapshot().members.length === 12, { bus, what: 'the publisher to learn the ring' });
      const [key] = keysOwnedBy(brokers[1], brokers[0], 1);
      await publisher.publish('orders', seq(0), { key });
      await waitFor(() => publisher.inFlight === 0, { bus, clock, stepMs: 10, what: 'the first publish settled' });
      // Every notice that reports something handled is lost for a while: the publisher resends the accepted ones.
      let losing = true;
      const batches: number[] = [];
      bus.setFault((d) => {
        if (d.to === 'broker-1' && isForwardBatch(d.data)) batches.push(framesOf(d.data).length);
        if (losing && d.to === 'broker-3' && (readNotice(d.data)?.handled.length ?? 0) > 0) return 'drop';
        return 'deliver';
      });
      const all = [1, 2, 3].map((n) => publisher.publish('orders', seq(n), { key }));
      await Promise.all(all);
      await waitFor(() => publisher.counters.retried >= 3, { bus, clock, stepMs: 20, what: 'the resends' });
      losing = false;
      await waitFor(() => publisher.inFlight === 0, { bus, clock, stepMs: 20, what: 'all settled' });
      expect(batches).toEqual([3]);
      expect(handled.get(key)).toEqual([0, 1, 2, 3]);
    });

    it('never sends a Go owner a batch: Go sends no notices, and ignores the question', async () => {
      const bus = new MemoryBus();
      const { flow, go, key } = await flowBesideGo(bus, { batchForwards: true });
      try {
        const toGo: Uint8Array[] = [];
        bus.setFault((d) => (d.to === 'go' && d.subject !== '_global' && void toGo.push(d.data), 'deliver'));
        for (let round = 0; round < 2; round++) {
          await Promise.all([1, 2, 3].map((n) => flow.publish('orders', seq(n), { key })));
          await Promise.all([4, 5, 6].map((n) => flow.publish('orders', seq(n), { key, ack: false })));
          await bus.idle();
        }
        expect(toGo).toHaveLength(12);
        expect(toGo.filter(isForwardBatch)).toHaveLength(0);
        expect(go.forwarded.map((m) => readSeq(m.data))).toEqual([1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]);
      } finally {
        go.close();
        await flow.close();
      }
    });

    it('runs the frames of a batch before a malformed part, counts it malformed, and carries on', async () => {
      const clock = new ManualClock();
      const handled = new Map<string, number[]>();
      const { publisher, bus, brokers } = await batchingClique(handled, clock);
      const [key] = keysOwnedBy(brokers[0], brokers[1], 1);
      // One FWD of the publisher's, taken off the bus, then wrapped with a length that overruns.
      let fwd: Uint8Array | undefined;
      bus.setFault((d) => {
        if (fwd === undefined && d.to === 'broker-0' && decodeFrame(d.data).type === FrameType.Fwd) return ((fwd = d.data.slice()), 'drop');
        return 'deliver';
      });
      const first = publisher.publish('orders', seq(1), { key });
      await bus.idle();
      bus.setFault(() => 'deliver');
      const length = [fwd!.length >>> 24, (fwd!.length >>> 16) & 255, (fwd!.length >>> 8) & 255, fwd!.length & 255];
      const stranger = bus.connect('stranger');
      stranger.publish(nodeSubject(brokers[0].snapshot().clique, brokers[0].nodeKey), rawBatch([...length, ...fwd!, 0, 0, 1, 0]));
      stranger.publish(nodeSubject(brokers[0].snapshot().clique, brokers[0].nodeKey), encodeFrame({ type: FrameType.Ping, id: 0, sender: new Key(5, 5) }).subarray(0, 5));
      await first;
      await bus.idle();
      expect(handled.get(key)).toEqual([1]);
      expect(brokers[0].counters.malformed).toBe(2);
      await publisher.publish('orders', seq(2), { key });
      await bus.idle();
      expect(handled.get(key)).toEqual([1, 2]);
      stranger.close();
    });
  });
});
