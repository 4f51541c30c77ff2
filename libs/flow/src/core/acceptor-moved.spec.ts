import { Acceptor, type AcceptorHost } from './acceptor';
import { newCounters } from './broker-counters';
import { OverloadedError } from './errors';
import { decodeFrame, FrameType, type FwdFrame } from './frame';
import { newBytes } from './frame-layout';
import { keyFromString } from './key';
import type { Membership } from './membership';
import { resolveBrokerOptions } from './options';
import { readNotice } from './publish-wire';
import { NodeSubjects } from './subjects';

const utf8 = new TextEncoder();

/**
 * `settle(undefined, moved)` says that a message goes on to another owner
 * (handoff.ts), not that it ended: whatever the acceptor took it as, its
 * publisher hears "handled" only when it was handled.
 */
describe('a message the handoff moves on (settle with moved)', () => {
  function acceptorOwning(local: boolean) {
    const options = resolveBrokerOptions({ nodeName: 'owner' });
    const handled: bigint[] = [];
    const accepted: bigint[] = [];
    const refused: { id: bigint; code: string }[] = [];
    const routed: FwdFrame['msg'][] = [];
    const dispatched: FwdFrame['msg'][] = [];
    const table = { ownerOf: () => keyFromString('member'), isLocal: () => local };
    const host: AcceptorHost = {
      options,
      counters: newCounters(),
      allocate: newBytes,
      nodeSubjects: new NodeSubjects(options.clique),
      membership: () => ({ table }) as unknown as Membership,
      dispatcher: { dispatch: (msg: FwdFrame['msg']) => void dispatched.push(msg) } as unknown as AcceptorHost['dispatcher'],
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
    return { publish, handled, accepted, refused, routed, dispatched };
  }

  it('leaves a relay a relay: its publisher hears "handled" from the owner it reaches, not from the move', () => {
    const { publish, handled, routed } = acceptorOwning(false);
    const msg = publish(7n);
    expect(routed).toEqual([msg]);
    msg.settle!(undefined, true);
    expect(handled).toEqual([]);
    msg.settle!();
    expect(handled).toEqual([7n]);
  });

  it('tells the publisher of a message queued here "handled" only once its new owner handled it', () => {
    const { publish, handled, dispatched } = acceptorOwning(true);
    const msg = publish(8n);
    expect(dispatched).toEqual([msg]);
    msg.settle!(undefined, true);
    expect(handled).toEqual([]);
    msg.settle!();
    expect(handled).toEqual([8n]);
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
});
