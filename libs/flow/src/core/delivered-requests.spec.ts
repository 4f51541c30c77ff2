import { ManualClock } from '../testing/manual-clock';
import { DeliveredRequests, MAX_DELIVERED_REQUESTS } from './delivered-requests';

describe('DeliveredRequests', () => {
  it('gives back the requests of one owner once, with their reply subject and exact id', () => {
    const delivered = new DeliveredRequests(new ManualClock(), 1_000);
    delivered.record('a', '_global.r1', 1);
    delivered.record('b', '_global.r2', 2n ** 60n);
    delivered.record('b', '_global.r3', 3);
    expect(delivered.take('b')).toEqual([
      { reply: '_global.r2', id: 2n ** 60n, owner: 'b', at: 0, own: false, settled: true },
      { reply: '_global.r3', id: 3, owner: 'b', at: 0, own: false, settled: true },
    ]);
    expect(delivered.take('b')).toEqual([]);
    expect(delivered.take('a').map((r) => r.id)).toEqual([1]);
  });

  it('forgets requests once their requester has stopped waiting', () => {
    const clock = new ManualClock();
    const delivered = new DeliveredRequests(clock, 1_000);
    delivered.record('a', 'r', 1);
    clock.advance(500);
    delivered.record('a', 'r', 2);
    clock.advance(500);
    expect(delivered.take('a').map((r) => r.id)).toEqual([2]);
  });

  it('remembers at most MAX_DELIVERED_REQUESTS, forgetting the oldest', () => {
    const delivered = new DeliveredRequests(new ManualClock(), 1_000);
    for (let id = 0; id < MAX_DELIVERED_REQUESTS + 10; id++) delivered.record('a', 'r', id);
    const kept = delivered.take('a');
    expect(kept).toHaveLength(MAX_DELIVERED_REQUESTS);
    expect(kept[0].id).toBe(10);
  });

  it("forgets this broker's own request when it ends, and only its own", () => {
    const delivered = new DeliveredRequests(new ManualClock(), 1_000);
    delivered.record('a', 'me', 1, true);
    delivered.record('a', 'other', 2);
    delivered.record('a', 'me', 3, true);
    delivered.forget(1);
    // A forwarded request with the same id as one of ours (ids are per requester) stays.
    delivered.forget(2);
    expect(delivered.count).toBe(2);
    expect(delivered.take('a').map((r) => r.id)).toEqual([2, 3]);
    delivered.forget(3);
    expect(delivered.count).toBe(0);
  });

  it('bounds its order queue too: ended requests behind an unanswered one do not pile up', () => {
    const delivered = new DeliveredRequests(new ManualClock(), 1_000);
    delivered.record('a', 'me', -1, true);
    for (let id = 0; id < MAX_DELIVERED_REQUESTS + 10; id++) {
      delivered.record('b', 'me', id, true);
      delivered.forget(id);
    }
    // The unanswered one became the oldest beyond the bound and is forgotten with the queue's overflow.
    expect(delivered.count).toBe(0);
    expect(delivered.take('a')).toEqual([]);
  });
});

describe('DeliveredRequests.ownersWaitingSince', () => {
  it('lists the owners whose oldest remembered request is at least that old, up to the limit', () => {
    const clock = new ManualClock();
    const delivered = new DeliveredRequests(clock, 10_000);
    delivered.record('a', 'r', 1);
    clock.advance(100);
    delivered.record('b', 'r', 2);
    delivered.record('c', 'r', 3);
    expect(delivered.ownersWaitingSince(0, 10)).toEqual(['a']);
    expect(delivered.ownersWaitingSince(100, 10)).toEqual(['a', 'b', 'c']);
    expect(delivered.ownersWaitingSince(100, 2)).toEqual(['a', 'b']);
    delivered.take('a');
    expect(delivered.ownersWaitingSince(100, 10)).toEqual(['b', 'c']);
    expect(delivered.count).toBe(2);
  });

  it('lists each owner once, the one waiting longest first, past the requests that ended', () => {
    const clock = new ManualClock();
    const delivered = new DeliveredRequests(clock, 10_000);
    delivered.record('a', 'me', 1, true);
    delivered.record('b', 'me', 2, true);
    delivered.record('a', 'me', 3, true);
    clock.advance(50);
    delivered.record('c', 'me', 4, true);
    delivered.forget(1);
    expect(delivered.ownersWaitingSince(0, 10)).toEqual(['b', 'a']);
    expect(delivered.ownersWaitingSince(50, 10)).toEqual(['b', 'a', 'c']);
    expect(delivered.take('a').map((r) => r.id)).toEqual([3]);
  });
});
