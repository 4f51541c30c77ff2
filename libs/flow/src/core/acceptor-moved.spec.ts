import { Acceptor, type AcceptorHost } from './acceptor';
import { newCounters } from './broker-counters';
import { ClosedError, OverloadedError } from './errors';
import { decodeFrame, FrameType, type FwdFrame } from './frame';
import { newBytes } from './frame-layout';
import { keyFromString } from './key';
import type { Membership } from './membership';
import { resolveBrokerOptions } from './options';
import { encodePublishFwd, PublishFlags, readNotice, readPublishFlags } from './publish-wire';
import { NodeSubjects } from './subjects';

const utf8 = new TextEncoder();

/**
 * `settle(undefined, moved)` says that a message goes on to another owner
 * (handoff.ts), not that it ended: whatever the acceptor took it as, its
 * publisher hears "handled" only when it was handled.
 */
describe('a message the handoff moves on (settle with moved), and refusals', () => {
  function acceptorOwning(owned: boolean, refuseDispatch = false) {
    let local = owned;
    const options = resolveBrokerOptions({ nodeName: 'owner' });
    const counters = newCounters();
    const handled: bigint[] = [];
    const accepted: bigint[] = [];
    const refused: { id: bigint; code: string }[] = [];
    const routed: FwdFrame['msg'][] = [];
    const dispatched: FwdFrame['msg'][] = [];
    const table = { ownerOf: () => keyFromString('member'), isLocal: () => local };
    const host: AcceptorHost = {
      options,
      counters,
      allocate: newBytes,
      nodeSubjects: new NodeSubjects(options.clique),
      membership: () => ({ table }) as unknown as Membership,
      dispatcher: {
        dispatch: (msg: FwdFrame['msg']) => {
          dispatched.push(msg);
          if (refuseDispatch) msg.settle!(new OverloadedError('maxQueuedMessages', 1));
        },
      } as unknown as AcceptorHost['dispatcher'],
      route: (msg) => void routed.push(msg),
      send: (_subject, frame) => {
        const decoded = decodeFrame(frame);
        if (decoded.type === FrameType.Err) refused.push({ id: BigInt(decoded.id), code: decoded.code });
        const notice = readNotice(frame);
        handled.push(...(notice?.handled ?? []).map(BigInt));
        accepted.push(...(notice?.accepted ?? []).map(BigInt));
      },
      maxPayload: () => undefined,
      afterInput: (task) => task(),
    };
    const acceptor = new Acceptor(host);
    const publish = (id: bigint): FwdFrame['msg'] => {
      const msg = { id: 0n, reply: '', stream: 'orders', partitionKey: utf8.encode('k1'), data: new Uint8Array(1) };
      acceptor.onForward({ type: FrameType.Fwd, id, ackTo: keyFromString('publisher'), msg }, 0);
      return msg;
    };
    const ownKey = (now: boolean) => void (local = now);
    /** A publish that names its lane's previous unsettled one, `after` (flag Follows). */
    const publishAfter = (id: bigint, after: bigint): FwdFrame['msg'] => {
      const frame: FwdFrame = { type: FrameType.Fwd, id, ackTo: keyFromString('publisher'), msg: { id: 0n, reply: '', stream: 'orders', partitionKey: utf8.encode('k1'), data: new Uint8Array(1) } };
      const data = encodePublishFwd(frame, PublishFlags.Notices, newBytes, after);
      const decoded = decodeFrame(data) as FwdFrame;
      acceptor.onForward(decoded, readPublishFlags(data)!, data);
      return decoded.msg;
    };
    return { publish, publishAfter, handled, accepted, refused, routed, dispatched, counters, ownKey };
  }

  it.each([
    ['leaves a relay a relay: its publisher hears "handled" from the owner it reaches, not from the move', false],
    ['tells the publisher of a message queued here "handled" only once its new owner handled it', true],
  ])('%s', (_title, owned) => {
    const { publish, handled, routed, dispatched } = acceptorOwning(owned);
    const msg = publish(7n);
    expect(owned ? dispatched : routed).toEqual([msg]);
    msg.settle!(undefined, true);
    expect(handled).toEqual([]);
    msg.settle!();
    expect(handled).toEqual([7n]);
  });

  // Before, a refusal after "accepted" was dropped here: the publisher kept the
  // publish, and each of its retries was answered "accepted" from the window.
  it('tells the publisher when the new owner of a message moved from here refuses it, and refuses a retry the same way', () => {
    const { publish, accepted, refused, dispatched } = acceptorOwning(true);
    const msg = publish(9n);
    expect(accepted).toEqual([9n]);
    msg.settle!(undefined, true);
    msg.accepted!();
    msg.settle!(new OverloadedError('maxQueuedMessages', 1));
    expect(refused).toEqual([{ id: 9n, code: 'FLOW_OVERLOADED' }]);
    // A retry that crossed the ERR (or came after it was lost) is not run: its publisher was told it was refused.
    publish(9n);
    expect(dispatched).toEqual([msg]);
    expect(accepted).toEqual([9n]);
    expect(refused).toEqual([
      { id: 9n, code: 'FLOW_OVERLOADED' },
      { id: 9n, code: 'FLOW_OVERLOADED' },
    ]);
  });

  it('tells the publisher when a relay its owner had accepted is refused after all, and refuses a retry the same way', () => {
    const { publish, accepted, refused, routed } = acceptorOwning(false);
    const msg = publish(10n);
    msg.accepted!();
    expect(accepted).toEqual([10n]);
    msg.settle!(new OverloadedError('maxQueuedMessages', 1));
    expect(refused).toEqual([{ id: 10n, code: 'FLOW_OVERLOADED' }]);
    publish(10n);
    expect(routed).toEqual([msg]);
    expect(refused.map((r) => r.id)).toEqual([10n, 10n]);
  });

  // Seed 90206 with overload: a relay failed because its owner closed; this broker, owner next, answered every
  // retry FLOW_CLOSED from its refusals, and the publisher, sending it on each time, kept it for ever.
  it('takes a retry as new once a relay it passed on failed with FLOW_CLOSED, its owner closing: that is no final refusal', () => {
    const { publish, accepted, refused, routed, dispatched, ownKey } = acceptorOwning(false);
    const msg = publish(12n);
    msg.accepted!();
    msg.settle!(new ClosedError());
    expect(refused).toEqual([{ id: 12n, code: 'FLOW_CLOSED' }]);
    ownKey(true);
    const retry = publish(12n);
    expect(routed).toEqual([msg]);
    expect(dispatched).toEqual([retry]);
    expect(accepted).toEqual([12n, 12n]);
    expect(refused).toHaveLength(1);
  });

  // Seed 166 with overload: a retry of a refused publish (its ERR late, behind a disconnect) was relayed to a
  // joiner and ran, while its publisher took the ERR and rejected the publish.
  it('answers a retry of a publish it refused with the same refusal, and does not queue it again', () => {
    const { publish, refused, dispatched, counters } = acceptorOwning(true, true);
    publish(11n);
    publish(11n);
    expect(dispatched).toHaveLength(1);
    expect(refused).toEqual([
      { id: 11n, code: 'FLOW_OVERLOADED' },
      { id: 11n, code: 'FLOW_OVERLOADED' },
    ]);
    expect(counters.duplicates).toBe(1);
  });

  // Seed 56652 with overload: the retry was queued beside the relay's copy, refused for a full queue, and the
  // relay's copy ran after its publisher had been told the publish was refused.
  it('does not queue a second copy of a publish it relays, not yet accepted, when its key comes back here', () => {
    const { publish, routed, dispatched, handled, counters, ownKey } = acceptorOwning(false);
    const relay = publish(12n);
    expect(routed).toEqual([relay]);
    // Its owner died: the key is ours now, and the publisher sends the publish again.
    ownKey(true);
    publish(12n);
    expect(dispatched).toEqual([]);
    expect(counters.duplicates).toBe(1);
    // The relay comes back here (routed again) and runs: its publisher hears "handled" once.
    relay.settle!();
    expect(handled).toEqual([12n]);
  });

  it('relays the messages held behind a relay once its owner accepted it: they go the same way, in order', () => {
    const { publish, publishAfter, routed, dispatched } = acceptorOwning(false);
    const first = publish(20n);
    publishAfter(21n, 20n);
    expect(routed).toEqual([first]);
    first.accepted!();
    expect(routed).toHaveLength(2);
    expect(dispatched).toEqual([]);
  });

  // Seed 271338: the key came back here while a relay's retry reached the restarted owner, which accepted it; its
  // acceptance let the messages held behind it run here first.
  it('holds what waits behind a relay until its owner handled it, when the key is ours by the time the owner accepted it', () => {
    const { publish, publishAfter, routed, dispatched, handled, ownKey } = acceptorOwning(false);
    const first = publish(30n);
    const second = publishAfter(31n, 30n);
    ownKey(true);
    first.accepted!();
    expect(routed).toEqual([first]);
    expect(dispatched).toEqual([]);
    first.settle!();
    expect(handled).toEqual([30n]);
    expect(dispatched.map((msg) => msg.data)).toEqual([second.data]);
  });
});
