import { ManualClock } from '../testing/manual-clock';
import { newCounters } from './broker-counters';
import { AckFrame, decodeFrame, encodeFrame, FrameType, MsgPayload, newBytes } from './frame';
import { Key, keyFromBytes, parseKey } from './key';
import { resolveBrokerOptions } from './options';
import { ACK_PATIENCE } from './overdue-forwards';
import { appendNotice } from './publish-wire';
import { Publisher, PublisherHost } from './publisher';
import { NodeSubjects } from './subjects';

const utf8 = new TextEncoder();
const OWNER = parseKey('00000000000000aa');
const OTHER = parseKey('00000000000000bb');
const LOCAL = parseKey('00000000000000cc');

/**
 * A publisher on a fake broker: keys 'a' and 'b' belong to OWNER until it is
 * suspected, then to this broker (LOCAL); key 'w' belongs to OTHER. Nothing
 * but the publisher uses the clock, so its pending timers are the
 * publisher's watch rounds.
 */
function fakePublisher() {
  const clock = new ManualClock();
  const options = resolveBrokerOptions({ clock, ackTimeout: 100, maxInFlightForwards: 2, nodeKey: LOCAL });
  const sent: { subject: string; id: number }[] = [];
  let ownerDead = false;
  /** This broker's own transport: down or not, how many times it went down, and what a probe answers. */
  const link = { down: false, downs: 0, probe: (): Promise<boolean | undefined> => Promise.resolve(true) };
  const keyOf = new Map(['a', 'b', 'w'].map((k) => [keyFromBytes(utf8.encode(k), options.partitionHash).toString(), k]));
  const host: PublisherHost = {
    options,
    counters: newCounters(),
    allocate: newBytes,
    nodeSubjects: new NodeSubjects(options.clique),
    batchForwards: false,
    maxPayload: () => undefined,
    nextId: (() => {
      let id = 0;
      return () => ++id;
    })(),
    send: (subject, frame) => {
      sent.push({ subject, id: Number((decodeFrame(frame) as { id: number }).id) });
      return true;
    },
    ownerOf: (_stream, _kind, partition: Key) => (keyOf.get(partition.toString()) === 'w' ? OTHER : ownerDead ? LOCAL : OWNER),
    isLocal: (key) => key.equals(LOCAL),
    dispatchLocal: () => undefined,
    viaQueueGroup: () => undefined,
    viewAwaited: () => false,
    whenViewSettled: () => undefined,
    suspect: () => {
      ownerDead = true;
    },
    probe: () => link.probe(),
    linkDown: () => link.down,
    linkDowns: () => link.downs,
    delivered: () => undefined,
    reportError: (error) => {
      throw error;
    },
    contain: (error) => {
      throw error;
    },
  };
  const publisher = new Publisher(host);
  /** The owner's notice that it holds (accepted) publish `id`. */
  const accepted = (id: number): void => {
    const data = appendNotice(encodeFrame({ type: FrameType.Ack, id: 0, data: new Uint8Array(0) }), [id], []);
    publisher.onAck(decodeFrame(data) as AckFrame, data);
  };
  const message = (key: string): MsgPayload => ({ id: 0, reply: '', stream: 'orders', partitionKey: utf8.encode(key), data: utf8.encode(key) });
  return { clock, publisher, sent, accepted, message, link, isOwnerDead: () => ownerDead };
}

describe('Publisher', () => {
  it('keeps one watch round per ackTimeout when a round moves publishes here and admits a waiting one', async () => {
    const { clock, publisher, sent, accepted, message, isOwnerDead } = fakePublisher();
    const a = publisher.publish(message('a'), true)!;
    void publisher.publish(message('b'), true);
    // The window of 2 is full: 'w' waits.
    void publisher.publish(message('w'), true);
    expect(sent.map((s) => s.id)).toEqual([1, 2]);
    expect(clock.pending).toBe(1);
    // The owner holds 'b' and keeps saying so between rounds; 'a' is never answered.
    for (let round = 1; !isOwnerDead(); round++) {
      expect(round).toBeLessThanOrEqual(ACK_PATIENCE + 1);
      clock.advance(50);
      accepted(2);
      clock.advance(50);
    }
    // That round found the owner dead: 'a' and 'b' came here, which admitted 'w', sent to its owner.
    await expect(a).resolves.toBeUndefined();
    expect(sent.filter((s) => s.id === 3)).toHaveLength(1);
    expect(publisher.inFlight).toBe(1);
    expect(clock.pending).toBe(1);
    // One round per ackTimeout from here on: 'w', unanswered, is sent again once per round.
    for (let i = 0; i < 3; i++) {
      clock.advance(100);
      await Promise.resolve();
      await Promise.resolve();
    }
    expect(sent.filter((s) => s.id === 3)).toHaveLength(4);
    expect(clock.pending).toBe(1);
  });

  it('takes no owner for dead while its own transport is down, nor on a probe that could not tell because it went down', async () => {
    const { clock, publisher, sent, message, link, isOwnerDead } = fakePublisher();
    void publisher.publish(message('a'), true);
    link.probe = () => Promise.resolve(undefined);
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 3; i++) await Promise.resolve();
    };
    // Down: the rounds judge nothing (the owner's silence is this broker's own).
    link.down = true;
    link.downs = 1;
    for (let round = 0; round < 3; round++) {
      clock.advance(100);
      await settle();
    }
    expect(isOwnerDead()).toBe(false);
    expect(sent).toHaveLength(1);
    // Up again; the next round's probe cannot tell, and the transport goes down again before it answers: no verdict.
    link.down = false;
    const answer = { resolve: (_alive: boolean | undefined) => undefined as void };
    link.probe = () => new Promise((resolve) => (answer.resolve = resolve));
    clock.advance(100);
    link.downs = 2;
    answer.resolve(undefined);
    await settle();
    expect(isOwnerDead()).toBe(false);
    // Connected throughout: a probe that cannot tell takes the owner for dead, as before.
    link.probe = () => Promise.resolve(undefined);
    clock.advance(100);
    await settle();
    expect(isOwnerDead()).toBe(true);
  });
});
