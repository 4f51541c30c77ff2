import type { U64 } from './bytes';
import { IdTable } from './id-table';
import { seededRandom } from '../testing/seeded-random';

const byText = (a: U64, b: U64): number => (`${typeof a}:${a}` < `${typeof b}:${b}` ? -1 : 1);

/** Checks every observable of `table` against `model`. */
function expectSame(table: IdTable<string>, model: Map<U64, string>): void {
  expect(table.size).toBe(model.size);
  expect(table.keys().sort(byText)).toEqual([...model.keys()].sort(byText));
  const visited = new Map<U64, string>();
  table.forEach((value, lane) => visited.set(lane, value));
  expect(visited).toEqual(model);
}

describe('IdTable', () => {
  it('sets, replaces, reads and deletes lanes', () => {
    const table = new IdTable<string>();
    table.set(7, 'a');
    table.set(0, 'b');
    table.set(2 ** 30 - 1, 'c');
    table.set(7, 'd');
    expect([table.get(7), table.get(0), table.get(2 ** 30 - 1), table.get(8)]).toEqual(['d', 'b', 'c', undefined]);
    expect([table.has(0), table.has(8)]).toEqual([true, false]);
    expect(table.delete(0)).toBe(true);
    expect(table.delete(0)).toBe(false);
    expectSame(table, new Map([[7, 'd'], [2 ** 30 - 1, 'c']]));
  });

  it.each([1, 2, 3, 4, 5])('behaves as a Map under a seeded mix of operations on crowded lanes (seed %i)', (seed) => {
    const random = seededRandom(seed);
    const table = new IdTable<string>();
    const model = new Map<U64, string>();
    // Few distinct lanes, so probe runs collide, wrap around and shift back on delete.
    const lanes = Array.from({ length: 300 }, () => random.int(2 ** 30));
    for (let step = 0; step < 20_000; step++) {
      const lane = lanes[random.int(lanes.length)]!;
      const roll = random.next();
      if (roll < 0.45) {
        table.set(lane, `v${step}`);
        model.set(lane, `v${step}`);
      } else if (roll < 0.9) {
        expect(table.delete(lane)).toBe(model.delete(lane));
      } else {
        expect(table.get(lane)).toBe(model.get(lane));
        expect(table.has(lane)).toBe(model.has(lane));
      }
      if (step % 1000 === 0) expectSame(table, model);
    }
    expectSame(table, model);
  });

  it('grows to thousands of lanes and shrinks back to none, keeping every entry', () => {
    const table = new IdTable<string>();
    const model = new Map<U64, string>();
    const random = seededRandom(42);
    const lanes = random.shuffle(Array.from({ length: 5000 }, (_, i) => i * 7919));
    for (const lane of lanes) {
      table.set(lane, `v${lane}`);
      model.set(lane, `v${lane}`);
    }
    expectSame(table, model);
    for (const lane of lanes.slice(0, 4990)) {
      table.delete(lane);
      model.delete(lane);
    }
    expectSame(table, model);
    for (const lane of lanes.slice(4990)) expect(table.get(lane)).toBe(`v${lane}`);
  });

  it('keeps its slots while lanes come and go at a steady count, and halves them once few are left', () => {
    const table = new IdTable<string>();
    let next = 0;
    for (; next < 300; next++) table.set(next * 7919, 'v');
    const slots = table.slots;
    expect(slots).toBe(1024);
    // A Map would rebuild its table each time its deleted entries filled it.
    for (let oldest = 0; oldest < 100_000; oldest++, next++) {
      table.delete(oldest * 7919);
      table.set(next * 7919, 'v');
      if (table.slots !== slots) throw new Error(`slots changed to ${table.slots} after ${oldest + 1} replacements`);
    }
    for (let lane = 100_000; lane < next - 10; lane++) table.delete(lane * 7919);
    expect(table.size).toBe(10);
    expect(table.slots).toBe(64);
  });

  it('lets forEach replace the values of existing lanes', () => {
    const table = new IdTable<string>();
    for (let lane = 0; lane < 100; lane++) table.set(lane, 'old');
    table.forEach((_, lane) => table.set(lane, `new${lane}`));
    expect(table.get(99)).toBe('new99');
    expect(table.keys()).toHaveLength(100);
  });

  it('returns keys as a copy that later changes do not touch', () => {
    const table = new IdTable<string>();
    table.set(1, 'a');
    table.set(2, 'b');
    const keys = table.keys();
    table.delete(1);
    expect(keys.sort()).toEqual([1, 2]);
  });

  it('tells ids apart as a Map does: numbers up to 2^53, bigints beyond, and 5 from 5n', () => {
    const random = seededRandom(9);
    const table = new IdTable<string>();
    const model = new Map<U64, string>();
    const base = 2 ** 52;
    const ids: U64[] = [5, 5n, 0, 0n, 2n ** 64n - 1n, 2n ** 63n];
    for (let i = 0; i < 400; i++) ids.push(base + i * 4096, BigInt(base) * 4096n + BigInt(i), (random.int(2 ** 30) + 1) * 2 ** 21);
    for (const [i, id] of ids.entries()) {
      table.set(id, `v${i}`);
      model.set(id, `v${i}`);
    }
    expectSame(table, model);
    for (const id of ids.filter((_, i) => i % 3 === 0)) expect(table.delete(id)).toBe(model.delete(id));
    expectSame(table, model);
    expect([table.get(5), table.get(5n)]).toEqual([model.get(5), model.get(5n)]);
  });
});
