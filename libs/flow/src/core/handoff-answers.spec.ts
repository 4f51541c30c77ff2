import { HandoffAnswers } from './handoff-answers';
import { answerSize, encodeAnswer, readHandoff, type HandoffAnswer, type Redirect } from './handoff-wire';
import { Key } from './key';
import { MAX_HASH, type Interval } from './key-ranges';
import { NodeSubjects } from './subjects';

const asker = new Key(1, 2);
const everything: Interval[] = [{ lo: 0n, hi: MAX_HASH }];

/** A previous owner that owns nothing any more, with `busy` lanes draining, on a transport that takes `maxPayload` bytes. */
function previousOwner(busy: number[], maxPayload: number | undefined) {
  const sent: Uint8Array[] = [];
  const answers = new HandoffAnswers(
    {
      options: { syncPartitions: 0 } as never,
      ownership: { servedIntervals: () => [], settle: () => undefined },
      busyLanes: () => busy,
      send: (_subject, frame) => void sent.push(frame),
      nodeSubjects: new NodeSubjects('clique'),
      maxPayload: () => maxPayload,
    },
    () => [],
  );
  return { answers, sent, read: (i: number) => readHandoff(sent[i]!) as HandoffAnswer };
}

describe('HandoffAnswers', () => {
  it("lists the busy lanes while they fit the transport's max payload, and says \"all lanes\" when they would not", async () => {
    const lanes = Array.from({ length: 3000 }, (_, i) => i * 7);
    // 3,000 lanes take 12,000 bytes: listed without a limit, or under 1 MiB.
    for (const limit of [undefined, 1 << 20]) {
      const { answers, sent, read } = previousOwner(lanes, limit);
      answers.onQuery({ kind: 'query', token: 1, asker, intervals: everything });
      expect(read(0).lanes).toEqual(lanes);
      expect(sent[0]!.length).toBe(answerSize(1, 3000, []));
    }
    const { answers, sent, read } = previousOwner(lanes, 8192);
    answers.onQuery({ kind: 'query', token: 1, asker, intervals: everything });
    expect(read(0)).toMatchObject({ token: 1, lanes: undefined, released: everything });
    expect(sent[0]!.length).toBeLessThanOrEqual(8192);
    // "All lanes" is answered again, empty, only once nothing runs any more (answers go from a microtask).
    answers.laneIdle(lanes.pop()!);
    await Promise.resolve();
    expect(sent).toHaveLength(1);
    lanes.length = 0;
    answers.laneIdle(0);
    await Promise.resolve();
    expect(sent).toHaveLength(2);
    expect(read(1).lanes).toEqual([]);
  });

  it('sizes an answer as encodeAnswer writes it, redirects beyond the 64 sent included', () => {
    const redirects: Redirect[] = Array.from({ length: 70 }, (_, i) => ({ node: new Key(0, i), intervals: [{ lo: BigInt(i), hi: BigInt(i + 1) }] }));
    for (const [released, lanes, withRedirects] of [
      [0, 0, false],
      [3, 10, false],
      [2, 5, true],
    ] as const) {
      const intervals = Array.from({ length: released }, (_, i) => ({ lo: BigInt(i * 10), hi: BigInt(i * 10 + 5) }));
      const listed = Array.from({ length: lanes }, (_, i) => i);
      const sent = withRedirects ? redirects : [];
      expect(encodeAnswer(7, intervals, listed, sent).length).toBe(answerSize(released, lanes, sent));
    }
  });
});
