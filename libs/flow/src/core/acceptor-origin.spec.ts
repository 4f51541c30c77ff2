import { Acceptor, type AcceptorHost } from './acceptor';
import { newCounters } from './broker-counters';
import { OverloadedError } from './errors';
import { decodeFrame, FrameType, type FwdFrame, type MsgPayload } from './frame';
import { newBytes } from './frame-layout';
import { keyFromString } from './key';
import type { Membership } from './membership';
import { resolveBrokerOptions } from './options';
import { encodeMemberFwd, memberTrailer, ORIGIN_BYTES, readOrigin } from './publish-origin';
import { encodePublishFwd, LARGEST_TRAILER, PublishFlags, readNotice, readPublishFlags } from './publish-wire';
import { NodeSubjects } from './subjects';

const utf8 = new TextEncoder();
const PUBLISHER = keyFromString('publisher');
const MEMBER = keyFromString('member');

/**
 * A member that relays a publish (its view differs) or moves one on (a
 * handoff, a reconnect) sends it under its own id, naming the publish (flag
 * Origin): the owner takes the member's copy and the publisher's own as one.
 * Before, the owner knew the member's copy by the member's id only: seed 76386
 * (overload) ran a relayed copy and refused the publisher's retry of the same
 * publish for a full queue, so its publish() rejected, yet it ran.
 */
describe('a publish a member relays or moves on (flag Origin)', () => {
  function owner(local: boolean, refuseDispatch = false) {
    const options = resolveBrokerOptions({ nodeName: 'owner' });
    const counters = newCounters();
    const subjects = new NodeSubjects(options.clique);
    const answers: { to: string; kind: 'accepted' | 'handled' | 'refused'; id: bigint }[] = [];
    const dispatched: MsgPayload[] = [];
    const routed: MsgPayload[] = [];
    const table = { ownerOf: () => keyFromString('someone'), isLocal: () => local };
    const host: AcceptorHost = {
      options,
      counters,
      allocate: newBytes,
      nodeSubjects: subjects,
      membership: () => ({ table }) as unknown as Membership,
      dispatcher: {
        dispatch: (msg: MsgPayload) => {
          dispatched.push(msg);
          if (refuseDispatch) msg.settle!(new OverloadedError('maxQueuedMessages', 1));
        },
      } as unknown as AcceptorHost['dispatcher'],
      route: (msg) => void routed.push(msg),
      send: (subject, frame) => {
        const to = subject === subjects.of(PUBLISHER) ? 'publisher' : subject === subjects.of(MEMBER) ? 'member' : subject;
        const decoded = decodeFrame(frame);
        if (decoded.type === FrameType.Err) answers.push({ to, kind: 'refused', id: BigInt(decoded.id) });
        const notice = readNotice(frame);
        for (const id of notice?.accepted ?? []) answers.push({ to, kind: 'accepted', id: BigInt(id) });
        for (const id of notice?.handled ?? []) answers.push({ to, kind: 'handled', id: BigInt(id) });
      },
      maxPayload: () => undefined,
      afterInput: (task) => task(),
    };
    const acceptor = new Acceptor(host);
    const message = (): MsgPayload => ({ id: 0, reply: '', stream: 'orders', partitionKey: utf8.encode('k1'), data: new Uint8Array(1) });
    /** The publisher's own FWD of its publish `id`. */
    const fromPublisher = (id: number): MsgPayload => {
      const data = encodePublishFwd({ type: FrameType.Fwd, id, ackTo: PUBLISHER, msg: message() }, PublishFlags.Notices, newBytes);
      const frame = decodeFrame(data) as FwdFrame;
      acceptor.onForward(frame, readPublishFlags(data)!, data);
      return frame.msg;
    };
    /** A member's FWD under its own `id`, naming the publisher's publish `publish`. */
    const fromMember = (id: number, publish: number): MsgPayload => {
      const data = encodeMemberFwd({ type: FrameType.Fwd, id, ackTo: MEMBER, msg: message() }, newBytes, { key: PUBLISHER, id: publish });
      const frame = decodeFrame(data) as FwdFrame;
      acceptor.onForward(frame, readPublishFlags(data)!, data);
      return frame.msg;
    };
    return { fromPublisher, fromMember, answers, dispatched, routed, counters };
  }

  it('writes and reads the publish a member names, after the flags', () => {
    const data = encodeMemberFwd({ type: FrameType.Fwd, id: 5, ackTo: MEMBER, msg: { id: 0, reply: '', stream: 's', partitionKey: utf8.encode('k'), data: new Uint8Array(3) } }, newBytes, { key: PUBLISHER, id: 2 ** 40 + 3 });
    const flags = readPublishFlags(data)!;
    expect(flags).toBe(PublishFlags.Notices | PublishFlags.Origin);
    const origin = readOrigin(data, flags);
    expect([origin.key.toString(), origin.id]).toEqual([PUBLISHER.toString(), 2 ** 40 + 3]);
    expect(() => readOrigin(data.subarray(0, data.length - 1), flags)).toThrow(/flag Origin without the publisher and id/);
    // A publisher checks a message's size against the largest trailer between brokers: a member's must not be larger.
    expect(memberTrailer({ key: PUBLISHER, id: 1 })).toBeLessThanOrEqual(LARGEST_TRAILER);
    expect(data.length - ORIGIN_BYTES).toBe(encodePublishFwd({ type: FrameType.Fwd, id: 5, ackTo: MEMBER, msg: { id: 0, reply: '', stream: 's', partitionKey: utf8.encode('k'), data: new Uint8Array(3) } }, PublishFlags.Notices, newBytes).length);
  });

  it("runs a member's copy once, and answers the publisher's own copy from the window", () => {
    const { fromPublisher, fromMember, answers, dispatched, counters } = owner(true);
    const relayed = fromMember(100, 7);
    fromPublisher(7);
    expect(dispatched).toEqual([relayed]);
    expect(counters.duplicates).toBe(1);
    relayed.settle!();
    fromPublisher(7);
    expect(answers).toEqual([
      { to: 'member', kind: 'accepted', id: 100n },
      { to: 'publisher', kind: 'accepted', id: 7n },
      { to: 'member', kind: 'handled', id: 100n },
      { to: 'publisher', kind: 'handled', id: 7n },
    ]);
  });

  it("answers a member's copy of a publish it already runs from the window, and one it refused with the same refusal", () => {
    const queued = owner(true);
    const own = queued.fromPublisher(7);
    queued.fromMember(100, 7);
    expect(queued.dispatched).toEqual([own]);
    expect(queued.answers).toEqual([
      { to: 'publisher', kind: 'accepted', id: 7n },
      { to: 'member', kind: 'accepted', id: 100n },
    ]);

    const refused = owner(true, true);
    refused.fromPublisher(9);
    refused.fromMember(100, 9);
    expect(refused.dispatched).toHaveLength(1);
    expect(refused.answers).toEqual([
      { to: 'publisher', kind: 'refused', id: 9n },
      { to: 'member', kind: 'refused', id: 100n },
    ]);
  });

  it('names the publish when it relays one or moves one on, the first publisher and id through every member', () => {
    const relaying = owner(false);
    relaying.fromPublisher(7);
    relaying.fromMember(100, 8);
    expect(relaying.routed.map((msg) => [msg.origin?.key.toString(), msg.origin?.id])).toEqual([
      [PUBLISHER.toString(), 7],
      [PUBLISHER.toString(), 8],
    ]);

    const moving = owner(true);
    const own = moving.fromPublisher(7);
    const relayed = moving.fromMember(100, 8);
    own.settle!(undefined, true);
    relayed.settle!(undefined, true);
    expect([own, relayed].map((msg) => [msg.origin?.key.toString(), msg.origin?.id])).toEqual([
      [PUBLISHER.toString(), 7],
      [PUBLISHER.toString(), 8],
    ]);
  });
});
