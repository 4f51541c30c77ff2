import { seededRandom } from '../testing/seeded-random';
import { InFlightTable } from './in-flight-table';

interface Item {
  readonly id: number | bigint;
}

describe('InFlightTable', () => {
  it('finds, deletes and counts values, including ids whose ring slot is taken', () => {
    const table = new InFlightTable<Item>(10);
    const slots = 1024;
    const base = 2 ** 40;
    const [a, b, c] = [{ id: base }, { id: base + slots }, { id: base + 2 * slots }];
    for (const item of [a, b, c]) table.add(item);
    expect(table.size).toBe(3);
    expect([table.get(a.id), table.get(b.id), table.get(c.id)]).toEqual([a, b, c]);
    expect(table.get(base + 1)).toBeUndefined();
    expect(table.delete(a.id)).toBe(true);
    expect(table.delete(a.id)).toBe(false);
    expect(table.get(b.id)).toBe(b);
    expect(table.has(a.id)).toBe(false);
    expect(table.size).toBe(2);
  });

  it('keeps bigint ids apart and lists every value in ascending id order', () => {
    const table = new InFlightTable<Item>(10);
    const items: Item[] = [{ id: 5000 }, { id: 1n << 60n }, { id: 7 }, { id: 7 + 1024 }, { id: 3 }];
    for (const item of items) table.add(item);
    expect(table.get(1n << 60n)).toBe(items[1]);
    expect(table.inOrder().map((item) => item.id)).toEqual([3, 7, 7 + 1024, 5000, 1n << 60n]);
    table.clear();
    expect(table.size).toBe(0);
    expect(table.inOrder()).toEqual([]);
    expect(table.get(7)).toBeUndefined();
  });

  it('agrees with a Map under a random schedule of adds and deletes (seeded)', () => {
    const random = seededRandom(11);
    const table = new InFlightTable<Item>(100);
    const model = new Map<number, Item>();
    let next = 2 ** 33;
    for (let step = 0; step < 20_000; step++) {
      if (random.next() < 0.55) {
        // Mostly consecutive ids, sometimes a jump: the publisher's counter is shared with other sends.
        next += random.next() < 0.9 ? 1 : 1 + random.int(5000);
        const item = { id: next };
        table.add(item);
        model.set(next, item);
      } else if (model.size > 0) {
        const ids = [...model.keys()];
        // Usually the oldest (settled in order), sometimes any.
        const id = random.next() < 0.7 ? ids[0] : ids[random.int(ids.length)];
        expect(table.delete(id)).toBe(true);
        model.delete(id);
      }
      expect(table.size).toBe(model.size);
      // The publisher's floor: the lowest id present (the model's keys are in insertion order, which is ascending).
      expect(table.lowest()).toBe(model.size === 0 ? undefined : model.keys().next().value);
    }
    for (const [id, item] of model) expect(table.get(id)).toBe(item);
    expect(table.inOrder()).toEqual([...model.values()]);
  });

  it('gives the lowest number id, leaving bigints out, and none when empty or cleared', () => {
    const table = new InFlightTable<Item>(10);
    expect(table.lowest()).toBeUndefined();
    table.add({ id: 1n << 60n });
    expect(table.lowest()).toBeUndefined();
    // A slot's later id goes to the overflow map: the lowest is found there too.
    for (const id of [100, 100 + 1024, 2000]) table.add({ id });
    expect(table.lowest()).toBe(100);
    table.delete(100);
    expect(table.lowest()).toBe(100 + 1024);
    // An id below the lowest (not from one ascending counter) still counts.
    table.add({ id: 50 });
    expect(table.lowest()).toBe(50);
    table.delete(50);
    table.delete(100 + 1024);
    table.delete(2000);
    expect(table.lowest()).toBeUndefined();
    table.add({ id: 7 });
    expect(table.lowest()).toBe(7);
    table.clear();
    expect(table.lowest()).toBeUndefined();
    table.add({ id: 3 });
    expect(table.lowest()).toBe(3);
  });
});
