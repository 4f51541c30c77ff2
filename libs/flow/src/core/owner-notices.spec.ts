import { parseKey } from './key';
import { OwnerNotices } from './owner-notices';
import { noticeBytes, NOTICE_ID_BYTES, readNotice } from './publish-wire';

const OWNER = parseKey('00000000000000aa');

/** Notices to the publishers, sent when the test ends the turn; `maxPayload` bounds each frame. */
function notices(maxPayload?: number) {
  const turn: (() => void)[] = [];
  const sent: { subject: string; accepted: number[]; handled: number[] }[] = [];
  const owner = new OwnerNotices({
    clique: 'c',
    batchTo: { node: OWNER, virtualNodes: 8 },
    send: (subject, frame) => {
      const notice = readNotice(frame)!;
      sent.push({ subject, accepted: notice.accepted.map(Number), handled: notice.handled.map(Number) });
    },
    maxPayload: () => maxPayload,
    afterInput: (task) => turn.push(task),
  });
  const endTurn = (): void => {
    for (const task of turn.splice(0)) task();
  };
  return { owner, sent, endTurn, turns: () => turn.length };
}

describe('OwnerNotices', () => {
  it('sends one notice per publisher per turn, listing as accepted only what the turn did not also see handled', () => {
    const { owner, sent, endTurn, turns } = notices();
    for (const id of [1, 2, 3, 4]) owner.notify('00000000000000a1', id, false);
    for (const id of [1, 2]) owner.notify('00000000000000a1', id, true);
    owner.notify('00000000000000b2', 9, true);
    expect(turns()).toBe(1);
    expect(sent).toEqual([]);
    endTurn();
    expect(sent).toEqual([
      { subject: 'c.00000000000000a1', accepted: [3, 4], handled: [1, 2] },
      { subject: 'c.00000000000000b2', accepted: [], handled: [9] },
    ]);
  });

  it('leaves out of "accepted" what handlers finished out of order, or what was accepted in an earlier turn', () => {
    const { owner, sent, endTurn } = notices();
    owner.notify('00000000000000a1', 10, false);
    endTurn();
    for (const id of [11, 12, 13, 14]) owner.notify('00000000000000a1', id, false);
    // 10 was accepted in the turn before; 13 finishes before 12.
    for (const id of [11, 10, 13]) owner.notify('00000000000000a1', id, true);
    endTurn();
    expect(sent).toEqual([
      { subject: 'c.00000000000000a1', accepted: [10], handled: [] },
      { subject: 'c.00000000000000a1', accepted: [12, 14], handled: [11, 10, 13] },
    ]);
  });

  // A publisher's lists stay from turn to turn (an owner's notices allocate nothing per message once grown):
  // what an earlier turn left in them must neither count nor be sent.
  it('reads nothing of an earlier turn, and sends nothing to a publisher not heard from in this one', () => {
    const { owner, sent, endTurn } = notices();
    for (const id of [5, 6]) owner.notify('00000000000000a1', id, false);
    endTurn();
    // 5 sits where an earlier turn left it in the accepted list: handled now, it is not taken for this turn's first.
    owner.notify('00000000000000a1', 5, true);
    owner.notify('00000000000000a1', 7, false);
    endTurn();
    owner.notify('00000000000000b2', 8, true);
    endTurn();
    owner.notify('00000000000000a1', 9, true);
    endTurn();
    expect(sent).toEqual([
      { subject: 'c.00000000000000a1', accepted: [5, 6], handled: [] },
      { subject: 'c.00000000000000a1', accepted: [7], handled: [5] },
      { subject: 'c.00000000000000b2', accepted: [], handled: [8] },
      { subject: 'c.00000000000000a1', accepted: [], handled: [9] },
    ]);
  });

  it('splits a turn whose ids do not fit the max payload, accepted ones first, and sends what waits when flushed early', () => {
    const { owner, sent, endTurn } = notices(noticeBytes(0) + 3 * NOTICE_ID_BYTES);
    for (const id of [1, 2, 3, 4, 5]) owner.notify('00000000000000a1', id, false);
    for (const id of [1, 2]) owner.notify('00000000000000a1', id, true);
    owner.flushNow();
    expect(sent.map(({ accepted, handled }) => [accepted, handled])).toEqual([
      [[3, 4, 5], []],
      [[], [1, 2]],
    ]);
    endTurn();
    expect(sent).toHaveLength(2);
  });
});
