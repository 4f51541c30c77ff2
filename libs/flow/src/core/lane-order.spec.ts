import { LaneOrder } from './lane-order';

describe('LaneOrder (the owner holding publishes for their predecessor)', () => {
  it('releases the message waiting for an id, once, and a chain one link at a time', () => {
    const order = new LaneOrder<string>(8, 1_000);
    expect(order.hold('pub-a', 3, 2, 0, 'third')).toBe(true);
    expect(order.hold('pub-a', 2, 1, 0, 'second')).toBe(true);
    expect(order.size).toBe(2);
    // Another publisher's id 1 releases nothing of pub-a.
    expect(order.release('pub-b', 1)).toBeUndefined();
    expect(order.release('pub-a', 1)?.value).toBe('second');
    expect(order.release('pub-a', 1)).toBeUndefined();
    expect(order.release('pub-a', 2)?.value).toBe('third');
    expect(order.size).toBe(0);
  });

  it('forgets a held copy (sent again, perhaps naming another predecessor)', () => {
    const order = new LaneOrder<string>(8, 1_000);
    order.hold('pub-a', 5, 4, 0, 'old copy');
    expect(order.forget('pub-a', 5)).toBe(true);
    expect(order.forget('pub-a', 5)).toBe(false);
    expect(order.release('pub-a', 4)).toBeUndefined();
    expect(order.hold('pub-a', 5, 3, 0, 'new copy')).toBe(true);
    expect(order.release('pub-a', 3)?.value).toBe('new copy');
  });

  it('holds at most `capacity` messages and one per predecessor; the rest are refused (dropped unanswered)', () => {
    const order = new LaneOrder<number>(3, 1_000);
    for (let id = 10; id < 13; id++) expect(order.hold('pub-a', id, id + 100, 0, id)).toBe(true);
    expect(order.hold('pub-a', 13, 113, 0, 13)).toBe(false);
    expect(order.size).toBe(3);
    expect(order.release('pub-a', 110)?.value).toBe(10);
    expect(order.hold('pub-a', 14, 111, 0, 14)).toBe(false);
    expect(order.hold('pub-b', 14, 111, 0, 14)).toBe(true);
  });

  it('drops what waited longer than maxAgeMs when the next message is held (a publisher gone)', () => {
    const order = new LaneOrder<number>(16, 400);
    order.hold('gone', 1, 100, 0, 1);
    order.hold('gone', 2, 101, 350, 2);
    order.hold('live', 7, 70, 400, 7);
    // The first waited 400 ms: dropped; the second 50 ms: kept.
    expect(order.size).toBe(2);
    expect(order.release('gone', 100)).toBeUndefined();
    expect(order.release('gone', 101)?.value).toBe(2);
    order.hold('live', 8, 71, 10_000, 8);
    expect(order.size).toBe(1);
    expect(order.release('live', 71)?.value).toBe(8);
  });
});
