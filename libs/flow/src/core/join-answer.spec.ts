import { decodeFrame, FrameType, type InfoFrame } from './frame';
import { JoinAnswer, TakenAnswers } from './join-answer';
import { Key } from './key';
import { RoutingTable } from './routing-table';

const keys = (...n: number[]): Key[] => n.map((i) => new Key(i, i));
const listed = (frames: readonly Uint8Array[]): string[] =>
  frames.flatMap((frame) => (decodeFrame(frame) as InfoFrame).neighbours.map((key) => `${key.hi}`));

describe('JoinAnswer', () => {
  const own = keys(10, 20, 30, 40);

  it('lists the neighbours, then the positions not among them, each once, in INFOs of at most `per` positions', () => {
    const answer = new JoinAnswer(own, (frame) => frame);
    const frames = answer.frames(keys(5, 10, 20, 5), 3);

    expect(frames.map((frame) => decodeFrame(frame).type)).toEqual([FrameType.Info, FrameType.Info]);
    expect(listed(frames)).toEqual(['5', '10', '20', '30', '40']);
  });

  it('sends the same frames again while the neighbours and the INFO size stay, and builds new ones when either changes', () => {
    let signed = 0;
    const answer = new JoinAnswer(own, (frame) => {
      signed++;
      return frame;
    });
    const first = answer.frames(keys(5, 10), 8);
    expect(answer.frames(keys(5, 10), 8)).toBe(first);
    expect(signed).toBe(1);

    expect(listed(answer.frames(keys(7, 10), 8))).toEqual(['7', '10', '20', '30', '40']);
    expect(answer.frames(keys(7, 10), 2)).toHaveLength(3);
    expect(signed).toBe(1 + 1 + 3);
  });
});

describe('TakenAnswers', () => {
  const table = (): RoutingTable => new RoutingTable({ local: keys(1), successors: 2, stabilizers: 1 });
  const data = Uint8Array.of(1, 2, 3);

  it('knows an answer taken whole as a repeat while no member has left', () => {
    const ring = table();
    ring.register(keys(2, 3));
    const taken = new TakenAnswers(ring);
    expect(taken.repeats('a', data)).toBe(false);

    taken.took('a', data, keys(2, 3));

    expect(taken.repeats('a', Uint8Array.of(1, 2, 3))).toBe(true);
    expect(taken.repeats('a', Uint8Array.of(1, 2, 4))).toBe(false);
    expect(taken.repeats('b', data)).toBe(false);
  });

  it('does not take an answer as a repeat once a member left, or when it was not taken whole', () => {
    const ring = table();
    ring.register(keys(2, 3));
    const taken = new TakenAnswers(ring);
    taken.took('a', data, keys(2, 3));
    ring.unregister(keys(3)[0]!);
    expect(taken.repeats('a', data)).toBe(false);

    // Key 4 is not on the ring (refused, bounded out): the answer is looked at again next time.
    taken.took('b', data, keys(2, 4));
    expect(taken.repeats('b', data)).toBe(false);
  });

  it('keeps its own copy of the bytes', () => {
    const ring = table();
    ring.register(keys(2));
    const taken = new TakenAnswers(ring);
    const bytes = Uint8Array.of(9, 9);
    taken.took('a', bytes, keys(2));
    bytes[0] = 8;
    expect(taken.repeats('a', Uint8Array.of(9, 9))).toBe(true);
  });
});
