import { Key } from './key';
import { KEPT_EMPTY_LANES, PublishLanes } from './publish-lanes';
import { Entry, newEntry } from './publisher-host';

function entry(id: number, lane: number): Entry {
  return newEntry(id, { id, reply: '', stream: 's', partitionKey: new Uint8Array(0), data: new Uint8Array(0) }, new Key(0, lane));
}

describe('PublishLanes', () => {
  it('links messages to one owner in publish order and holds those for another owner until the lane empties', () => {
    const lanes = new PublishLanes();
    const [a, b, c] = [entry(1, 7), entry(2, 7), entry(3, 7)];
    expect(lanes.open(a, 'A')).toBe(true);
    expect(lanes.open(b, 'A')).toBe(true);
    expect(b.prev).toBe(a);
    expect(a.next).toBe(b);
    expect(lanes.open(c, 'B')).toBe(false);
    expect(lanes.close(a)).toBeUndefined();
    expect(b.prev).toBeUndefined();
    expect(lanes.close(b)).toEqual([c]);
  });

  it('reuses an emptied lane without a stale predecessor or held message', () => {
    const lanes = new PublishLanes();
    const first = entry(1, 7);
    lanes.open(first, 'A');
    lanes.open(entry(2, 7), 'B');
    expect(lanes.close(first)).toHaveLength(1);
    const again = entry(3, 7);
    expect(lanes.open(again, 'B')).toBe(true);
    expect(again.prev).toBeUndefined();
    expect(lanes.close(again)).toBeUndefined();
  });

  it('leaves a dropped lane for good: closing a moved message later changes nothing in its reopened lane', () => {
    const lanes = new PublishLanes();
    const [a, b] = [entry(1, 7), entry(2, 7)];
    lanes.open(a, 'A');
    lanes.open(b, 'A');
    expect(lanes.drop([a, b])).toEqual([]);
    const c = entry(3, 7);
    expect(lanes.open(c, 'B')).toBe(true);
    expect(lanes.close(a)).toBeUndefined();
    // Still open at B alone: a message for another owner waits behind it, and goes once it closes.
    const d = entry(4, 7);
    expect(lanes.open(d, 'C')).toBe(false);
    expect(lanes.close(c)).toEqual([d]);
  });

  it(`keeps at most ${KEPT_EMPTY_LANES} empty lanes however many keys pass`, () => {
    const lanes = new PublishLanes();
    for (let lane = 0; lane < KEPT_EMPTY_LANES + 5_000; lane++) {
      const e = entry(lane, lane);
      lanes.open(e, 'A');
      lanes.close(e);
    }
    expect(lanes.size).toBe(KEPT_EMPTY_LANES);
    const open = entry(1, 1);
    lanes.open(open, 'A');
    lanes.drop([open]);
    expect(lanes.size).toBe(KEPT_EMPTY_LANES - 1);
    // The count of kept lanes stays right after a drop: one more empty lane is kept again.
    const next = entry(2, KEPT_EMPTY_LANES + 10_000);
    lanes.open(next, 'A');
    lanes.close(next);
    expect(lanes.size).toBe(KEPT_EMPTY_LANES);
  });
});
