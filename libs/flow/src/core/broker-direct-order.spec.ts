import { GoBrokerStandIn } from '../../test/go-broker';
import { deliveryKind, keyOwnedBy } from '../../test/ownership-probes';
import { fromUtf8, readSeq, seq } from '../../test/sequence';
import { createMemoryClique, MemoryClique } from '../testing/clique';
import { ManualClock } from '../testing/manual-clock';
import { waitFor } from '../testing/wait-for';
import { Broker, Delivery } from './broker';
import { errorReply } from './error-reply';
import { OverloadedError, RemoteError } from './errors';
import { decodeFrame, encodeFrame, FrameType } from './frame';
import { Key, keyFromString } from './key';
import { BusDelivery } from './memory-exchange';
import { MemoryBus, MemoryPubSub } from './memory-pubsub';
import { encodePublishFwd, PublishFlags, readNotice } from './publish-wire';
import { nodeSubject } from './subjects';

const utf8 = new TextEncoder();
const ACK_TIMEOUT = 100;

const kindOf = (delivery: BusDelivery): string => deliveryKind(delivery, ['orders']);

describe('per-key order of direct publishes across lost frames, refusals and an unknown view', () => {
  let clique: MemoryClique | undefined;
  const extra: Broker[] = [];
  afterEach(async () => {
    for (const broker of extra.splice(0)) await broker.close();
    await clique?.close();
    clique = undefined;
  });

  const options = (clock: ManualClock, more: object = {}) => ({
    ...{ virtualNodes: 4, stabilization: { interval: 0 }, ackTimeout: ACK_TIMEOUT, clock },
    ...more,
  });

  /** Records each key's sequence numbers in handling order. */
  const recorder = (handled: Map<string, number[]>) => (d: Delivery) => {
    const key = fromUtf8(d.partitionKey);
    handled.set(key, [...(handled.get(key) ?? []), readSeq(d.data)]);
  };

  /** 3 brokers handling 'orders', recording each key's sequence numbers in handling order, then a publisher (index 3). */
  async function orderClique(handled: Map<string, number[]>, clock: ManualClock) {
    clique = await createMemoryClique({
      size: 4,
      options: options(clock),
      setup: (broker, i) => (i === 3 ? undefined : broker.handle('orders', recorder(handled))),
    });
    await clique.converged();
    const publisher = clique.brokers[3];
    await waitFor(() => publisher.snapshot().members.length === 12, { bus: clique.bus, what: 'the publisher to learn the ring' });
    return { publisher, bus: clique.bus, brokers: clique.brokers };
  }

  /** Loses every FWD of sequence number `n` on its way to connection `to`; returns their ids as they come. */
  function loseEveryFwdOf(bus: MemoryBus, to: string, n: number): number[] {
    const ids: number[] = [];
    bus.setFault((d) => {
      if (d.to !== to || kindOf(d) !== 'FWD+flags') return 'deliver';
      const frame = decodeFrame(d.data);
      if (frame.type !== FrameType.Fwd || readSeq(frame.msg.data) !== n) return 'deliver';
      ids.push(Number(frame.id));
      return 'drop';
    });
    return ids;
  }

  /** An owner's refusal of publish `id` (as it would answer an overload), sent to the publisher from a stand-in connection. */
  function refuse(bus: MemoryBus, publisher: Broker, id: number): MemoryPubSub {
    const owner = bus.connect('owner-stand-in');
    owner.publish(nodeSubject(publisher.snapshot().clique, publisher.nodeKey), encodeFrame(errorReply(id, new OverloadedError('maxQueuedMessages', 1))));
    return owner;
  }

  /**
   * A publisher-only broker `pub` on `bus` whose first `lose` view answers are lost; records when each
   * of its view questions reaches the bus and the kind of everything else it sends.
   */
  function viewWatch(bus: MemoryBus, clock: ManualClock, lose: number) {
    const pub = new Broker(bus.connect('pub'), options(clock, { virtualNodes: 1 }));
    extra.push(pub);
    const questions: number[] = [];
    const sent: string[] = [];
    let lost = 0;
    bus.setFault((d) => {
      if (d.from === 'pub' && d.subject.endsWith('.view')) questions.push(clock.now());
      else if (d.from === 'pub') sent.push(kindOf(d));
      else if (d.to === 'pub' && decodeFrame(d.data).type === FrameType.Info && lost < lose) return (lost++, 'drop');
      return 'deliver';
    });
    return { pub, questions, sent, lost: () => lost };
  }

  it('holds later messages of a lane while its first FWD is lost, and runs all in publish order, once each, after the retry', async () => {
    const clock = new ManualClock();
    const handled = new Map<string, number[]>();
    const { publisher, bus, brokers } = await orderClique(handled, clock);
    const key = keyOwnedBy(brokers[1], brokers[0]);
    let lost = 0;
    bus.setFault((d) => (lost === 0 && d.to === 'broker-1' && kindOf(d) === 'FWD+flags' ? (lost++, 'drop') : 'deliver'));
    const resolved: number[] = [];
    const publishes = [1, 2, 3, 4, 5].map((n) => publisher.publish('orders', seq(n), { key }).then(() => resolved.push(n)));
    await bus.idle();
    // The owner holds 2..5 behind the lost 1, unanswered: none runs, and none is accepted, since each runs only
    // if 1 comes, which only this publisher can send.
    expect(lost).toBe(1);
    expect(handled.get(key)).toBeUndefined();
    expect(resolved).toEqual([]);

    await waitFor(() => handled.get(key)?.length === 5, { bus, clock, stepMs: 10, what: 'the retry of the lost FWD' });
    await Promise.all(publishes);
    await bus.idle();
    expect(handled.get(key)).toEqual([1, 2, 3, 4, 5]);
    expect(resolved).toHaveLength(5);
    expect(brokers[1].counters.handled).toBe(5);
    expect(publisher.counters.retried).toBeGreaterThanOrEqual(1);
  });

  it('runs a message sent again while held or queued once: copies replace the held one or are answered from the window', async () => {
    const clock = new ManualClock();
    const handled = new Map<string, number[]>();
    const { publisher, bus, brokers } = await orderClique(handled, clock);
    const key = keyOwnedBy(brokers[2], brokers[0]);
    let lostFwd = 0;
    let lostNotices = 0;
    // The first FWD is lost, and every notice to the publisher during the first 1.5 ackTimeouts: all five are sent again.
    bus.setFault((d) => {
      if (d.to === 'broker-2' && lostFwd === 0 && kindOf(d) === 'FWD+flags') return (lostFwd++, 'drop');
      if (d.to === 'broker-3' && clock.now() < 1.5 * ACK_TIMEOUT && kindOf(d) === 'ACK+notice') return (lostNotices++, 'drop');
      return 'deliver';
    });
    let resolved = 0;
    const publishes = [1, 2, 3, 4, 5].map((n) => publisher.publish('orders', seq(n), { key }).then(() => void resolved++));
    await waitFor(() => handled.get(key)?.length === 5 && resolved === 5, { bus, clock, stepMs: 10, what: 'all five handled and resolved' });
    await Promise.all(publishes);
    expect(lostNotices).toBeGreaterThan(0);
    expect(handled.get(key)).toEqual([1, 2, 3, 4, 5]);
    expect(brokers[2].counters.handled).toBe(5);
    expect(publisher.counters.retried).toBeGreaterThanOrEqual(5);
    expect(brokers[2].counters.duplicates).toBeGreaterThanOrEqual(4);
  });

  it('does not wedge a lane whose held gap cannot fill: a refused predecessor lets its successors run at once', async () => {
    const clock = new ManualClock();
    const handled = new Map<string, number[]>();
    const { publisher, bus, brokers } = await orderClique(handled, clock);
    const key = keyOwnedBy(brokers[1], brokers[0]);
    // Every FWD of message 1 is lost; its id is what the refusal names.
    const ids = loseEveryFwdOf(bus, 'broker-1', 1);
    const first = publisher.publish('orders', seq(1), { key }).then(
      () => 'resolved',
      (error: unknown) => error,
    );
    const later = [2, 3].map((n) => publisher.publish('orders', seq(n), { key }));
    await bus.idle();
    expect(handled.get(key)).toBeUndefined();
    expect(ids).toHaveLength(1);

    // The owner's refusal of message 1 (as it would answer an overload), on the publisher's node subject.
    const owner = refuse(bus, publisher, ids[0]);
    await bus.idle();
    await Promise.all(later);
    // No clock advance: 2 is sent again at once without its predecessor, and 3 follows it.
    expect(handled.get(key)).toEqual([2, 3]);
    const error = await first;
    expect(error).toBeInstanceOf(RemoteError);
    expect((error as RemoteError).code).toBe('FLOW_OVERLOADED');
    owner.close();
  });

  it('sends a publish again with the bytes it was made with, though the caller reused its buffer and the resend names a new predecessor', async () => {
    const clock = new ManualClock();
    const handled = new Map<string, number[]>();
    const { publisher, bus, brokers } = await orderClique(handled, clock);
    const key = keyOwnedBy(brokers[1], brokers[0]);
    const ids = loseEveryFwdOf(bus, 'broker-1', 1);
    const first = publisher.publish('orders', seq(1), { key }).catch((error: unknown) => error);
    // One buffer for 2 and 3, rewritten after each publish() returns, as a pooled encoder would.
    const buffer = seq(2);
    const later = [publisher.publish('orders', buffer, { key })];
    buffer.set(seq(3));
    later.push(publisher.publish('orders', buffer, { key }));
    await bus.idle();
    buffer.set(seq(99));
    // Held behind the lost 1, unanswered.
    expect(handled.get(key)).toBeUndefined();

    // The refusal of 1: 2 goes again at once without its predecessor (a new trailer), 3 runs after it.
    const owner = refuse(bus, publisher, ids[0]);
    await bus.idle();
    expect(handled.get(key)).toEqual([2, 3]);
    await Promise.all(later);
    expect(await first).toBeInstanceOf(RemoteError);
    owner.close();
  });

  it('holds at most maxQueuedMessages publishes for missing predecessors on an owner, and forgets old ones', async () => {
    const clock = new ManualClock();
    const handled = new Map<string, number[]>();
    clique = await createMemoryClique({
      size: 1,
      options: options(clock, { maxQueuedMessages: 4 }),
      setup: (broker) => broker.handle('orders', recorder(handled)),
    });
    await clique.converged();
    const { bus, brokers } = clique;
    const clique_ = brokers[0].snapshot().clique;
    // A hand-made publisher: its FWDs name predecessors the owner never saw.
    const origin = keyFromString('hand-made-publisher');
    const raw = bus.connect('raw');
    const accepted: number[] = [];
    raw.subscribe(nodeSubject(clique_, origin), {}, (_s, data) => accepted.push(...(readNotice(data)?.accepted.map(Number) ?? [])));
    const send = (id: number, key: string, after?: number) => {
      const msg = { id: 0, reply: '', stream: 'orders', partitionKey: utf8.encode(key), data: seq(id) };
      const fwd = encodePublishFwd({ type: FrameType.Fwd, id, ackTo: origin, msg }, PublishFlags.Notices, (n) => new Uint8Array(n), after);
      raw.publish(nodeSubject(clique_, brokers[0].ownerOf(key) as Key), fwd);
    };
    // Six keys (six lanes), each message waiting for a predecessor 1000 ids lower.
    for (let id = 1; id <= 6; id++) send(id, `k${id}`, 1000 + id);
    await bus.idle();
    // Four held, the fifth and sixth dropped, all unanswered; nothing ran.
    expect(accepted).toEqual([]);
    expect(handled.size).toBe(0);

    // A predecessor arrives: it runs, then the message held for it.
    send(1001, 'k1');
    await bus.idle();
    expect(handled.get('k1')).toEqual([1001, 1]);

    // ACK_PATIENCE (8) ackTimeouts later, holding a new message drops the three left (their publisher is gone).
    clock.advance(8 * ACK_TIMEOUT);
    send(7, 'k7', 1007);
    send(1002, 'k2');
    send(1007, 'k7');
    await bus.idle();
    expect(handled.get('k2')).toEqual([1002]);
    expect(handled.get('k7')).toEqual([1007, 7]);
    raw.close();
  });

  it('keeps the first keyed publishes of a publisher that starts among members until the view answers: direct, start() not slower', async () => {
    const clock = new ManualClock();
    const handled = new Map<string, number[]>();
    const { bus, brokers } = await orderClique(handled, clock);
    const key = keyOwnedBy(brokers[0], brokers[1]);
    const late = new Broker(bus.connect('late'), options(clock, { virtualNodes: 1 }));
    extra.push(late);
    const sent: string[] = [];
    bus.setFault((d) => (d.from === 'late' && d.subject !== `${late.snapshot().clique}.view` && sent.push(kindOf(d)), 'deliver'));
    await late.start();
    // start() did not wait for the answer: the view is unknown still.
    expect(late.snapshot().members).toEqual([]);
    const publishes = [1, 2, 3].map((n) => late.publish('orders', seq(n), { key }));
    await bus.idle();
    await Promise.all(publishes);
    expect(late.snapshot().members).toHaveLength(12);
    expect(sent).toEqual(['FWD+flags', 'FWD+flags', 'FWD+flags']);
    await waitFor(() => handled.get(key)?.length === 3, { bus, clock, stepMs: 10 });
    expect(handled.get(key)).toEqual([1, 2, 3]);
  });

  it('asks a Flow member three awaited view questions though the publisher started before any member: two lost answers, then direct', async () => {
    const clock = new ManualClock();
    const bus = new MemoryBus();
    // When each view question reaches a member; the first two answers to the publisher are lost; what else it sends.
    const { pub, questions, lost, sent } = viewWatch(bus, clock, 2);
    // Its question at start reaches nobody; the keyed publish is kept for the view.
    await pub.start();
    const publish = pub.publish('orders', seq(1), { key: 'k' });
    await bus.idle();
    const handled = new Map<string, number[]>();
    clique = await createMemoryClique({ size: 1, bus, options: options(clock), setup: (broker) => broker.handle('orders', recorder(handled)) });
    // The member's JOIN: a question (its answer lost); again after an ackTimeout (lost); and a third time.
    await bus.idle();
    for (let i = 0; i < 2; i++) {
      clock.advance(ACK_TIMEOUT);
      await bus.idle();
    }
    await publish;
    await bus.idle();
    // Direct to its owner, not through the queue group (which has no order relative to later direct sends).
    expect(sent).toEqual(['FWD+flags']);
    expect(questions).toEqual([0, ACK_TIMEOUT, 2 * ACK_TIMEOUT]);
    expect(lost()).toBe(2);
    expect(pub.snapshot().members).toHaveLength(4);
    await waitFor(() => handled.get('k')?.length === 1, { bus, clock, stepMs: 10 });
  });

  it('asks again, awaited, while its questions reach a member, then at doubling intervals, and sends direct from the answer on', async () => {
    const clock = new ManualClock();
    const handled = new Map<string, number[]>();
    clique = await createMemoryClique({ size: 1, options: options(clock), setup: (broker) => broker.handle('orders', recorder(handled)) });
    const { bus } = clique;
    // Stabilization is off: before, nothing asked again, and every keyed publish took the queue group for good.
    const { pub, questions, lost, sent } = viewWatch(bus, clock, 4);
    await pub.start();
    await bus.idle();
    // The question at start reached the member (the bus told no no-responders), and its answer is lost: asked
    // again and awaited, AWAITED_QUESTIONS in a row, while keyed publishes wait (a publisher that starts among
    // members hears no JOIN; before, it took the queue group after the first lost answer, seed 34 with restarts).
    clock.advance(ACK_TIMEOUT);
    await bus.idle();
    const first = pub.publish('orders', seq(1), { key: 'k' });
    clock.advance(ACK_TIMEOUT);
    await bus.idle();
    expect(sent).toEqual([]);
    expect(questions).toEqual([0, 1, 2].map((n) => n * ACK_TIMEOUT));
    // The third answer lost too: the publish takes the queue group.
    clock.advance(ACK_TIMEOUT);
    await bus.idle();
    await first;
    await bus.idle();
    expect(sent).toEqual(['stream:orders']);
    // Asked again after 1, then 2 more ackTimeouts (the fourth answer lost, the fifth given).
    for (let i = 0; i < 4; i++) {
      clock.advance(ACK_TIMEOUT);
      await bus.idle();
    }
    expect(questions).toEqual([0, 1, 2, 4, 6].map((n) => n * ACK_TIMEOUT));
    expect(lost()).toBe(4);
    expect(pub.snapshot().members).toHaveLength(4);
    await pub.publish('orders', seq(2), { key: 'k' });
    await bus.idle();
    expect(sent).toEqual(['stream:orders', 'FWD+flags']);
    await waitFor(() => handled.get('k')?.length === 2, { bus, clock, stepMs: 10 });
  });

  it('keeps keyed publishes at most an ackTimeout where no member answers (Go brokers only), then uses the queue group without waiting', async () => {
    const clock = new ManualClock();
    clique = await createMemoryClique({ size: 1, options: options(clock) });
    const { bus } = clique;
    const go = new GoBrokerStandIn(bus.connect('go'), 'go-only', keyFromString('go-1'));
    go.start();
    const lonely = new Broker(bus.connect('lonely'), options(clock, { clique: 'go-only', virtualNodes: 1 }));
    extra.push(lonely);
    // The queue group's stand-in: what reaches the stream subject, and when.
    const sent: string[] = [];
    const group = bus.connect('group');
    group.subscribe('orders', { queue: 'go-only' }, () => void sent.push(`${clock.now()}:stream:orders`));
    await lonely.start();
    const first = lonely.publish('orders', seq(1), { key: 'k' });
    await bus.idle();
    expect(sent).toEqual([]);
    clock.advance(ACK_TIMEOUT - 1);
    await bus.idle();
    expect(sent).toEqual([]);
    clock.advance(1);
    await first;
    await bus.idle();
    expect(sent).toEqual([`${ACK_TIMEOUT}:stream:orders`]);
    await lonely.publish('orders', seq(2), { key: 'k' });
    await bus.idle();
    expect(sent).toEqual([`${ACK_TIMEOUT}:stream:orders`, `${ACK_TIMEOUT}:stream:orders`]);
    go.close();
    group.close();
  });

  it('rejects keyed publishes kept for the view when the publisher closes: nothing is sent', async () => {
    const clock = new ManualClock();
    clique = await createMemoryClique({ size: 1, options: options(clock) });
    const { bus } = clique;
    const go = new GoBrokerStandIn(bus.connect('go'), 'go-only', keyFromString('go-1'));
    go.start();
    const sent: string[] = [];
    const group = bus.connect('group');
    group.subscribe('orders', { queue: 'go-only' }, () => void sent.push('stream:orders'));
    const lonely = new Broker(bus.connect('lonely'), options(clock, { clique: 'go-only', virtualNodes: 1 }));
    await lonely.start();
    const kept = lonely.publish('orders', seq(1), { key: 'k' }).then(
      () => 'resolved',
      (error: unknown) => (error as { code?: string }).code,
    );
    await bus.idle();
    await lonely.close();
    await bus.idle();
    expect(await kept).toBe('FLOW_CLOSED');
    expect(sent).toEqual([]);
    go.close();
    group.close();
  });

  it('keeps positions whose JOIN came after a view question when that question is answered late', async () => {
    const clock = new ManualClock();
    clique = await createMemoryClique({ size: 1, options: options(clock), setup: (broker) => void broker.handle('orders', () => undefined) });
    await clique.converged();
    const { bus } = clique;
    // Every view answer to the publisher is held back; the first is replayed at the end.
    const answers: BusDelivery[] = [];
    bus.setFault((d) => (d.to === 'pub' && decodeFrame(d.data).type === FrameType.Info ? (answers.push(d), 'drop') : 'deliver'));
    const pub = new Broker(bus.connect('pub'), options(clock, { virtualNodes: 1 }));
    extra.push(pub);
    await pub.start();
    await bus.idle();
    expect(answers).toHaveLength(1);
    // A member joins after that question was asked: the publisher hears its four JOINs.
    const joiner = new Broker(bus.connect('joiner'), options(clock, { nodeName: 'node-9' }));
    extra.push(joiner);
    await joiner.handle('orders', () => undefined);
    await joiner.start();
    await bus.idle();
    bus.setFault(undefined);
    const replay = bus.connect('replay');
    replay.publish(answers[0].subject, answers[0].data);
    await bus.idle();
    // The late answer lists broker 0's four positions only; the joiner's four stay.
    const members = new Set(pub.snapshot().members.map(String));
    expect(members.size).toBe(8);
    for (const position of joiner.snapshot().positions) expect(members.has(String(position))).toBe(true);
    replay.close();
  });
});
