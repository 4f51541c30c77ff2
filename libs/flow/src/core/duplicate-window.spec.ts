import type { U64 } from './bytes';
import { DuplicateWindow, hashOf } from './duplicate-window';
import { seededRandom } from '../testing/seeded-random';

/** The behaviour DuplicateWindow must have: one insertion-ordered map of '<origin>/<id>', oldest dropped first. */
class ModelWindow {
  readonly entries = new Map<string, boolean | 'refused'>();
  constructor(private readonly capacity: number) {}
  get(origin: string, id: U64): boolean | undefined {
    const state = this.entries.get(`${origin}/${id}`);
    return state === 'refused' ? undefined : state;
  }
  set(origin: string, id: U64, handled: boolean): void {
    const key = `${origin}/${id}`;
    if (!this.entries.has(key) && this.entries.size === this.capacity) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, handled);
  }
  markHandled(origin: string, id: U64): void {
    const key = `${origin}/${id}`;
    if (this.entries.has(key)) this.entries.set(key, true);
  }
  /** A refused entry keeps its place in the order: it is looked up as absent until set again. */
  markRefused(origin: string, id: U64): void {
    const key = `${origin}/${id}`;
    if (this.entries.has(key)) this.entries.set(key, 'refused');
  }
}

/** `count` ids whose index home position, for origin number 0 and `mask`, is `home`. */
function idsAtHome(home: number, mask: number, count: number): number[] {
  const ids: number[] = [];
  for (let id = 1; ids.length < count && id < 1_000_000; id++) if ((hashOf(0, 0, id) & mask) === home) ids.push(id);
  expect(ids).toHaveLength(count);
  return ids;
}

describe('DuplicateWindow', () => {
  it('keeps ids per origin with their state, and marks only ids it holds', () => {
    const window = new DuplicateWindow(8);
    window.set('a', 1, false);
    window.set('b', 1, true);
    expect(window.get('a', 1)).toBe(false);
    expect(window.get('b', 1)).toBe(true);
    expect(window.get('a', 2)).toBeUndefined();
    expect(window.get('c', 1)).toBeUndefined();
    window.markHandled('a', 1);
    window.markHandled('a', 2);
    window.markHandled('c', 1);
    expect(window.get('a', 1)).toBe(true);
    expect(window.get('a', 2)).toBeUndefined();
    expect(window.get('c', 1)).toBeUndefined();
    expect(window.size).toBe(2);
  });

  it('forgets the oldest entry over all origins first, as an insertion-ordered map would', () => {
    const capacity = 5;
    const window = new DuplicateWindow(capacity);
    const reference = new ModelWindow(capacity);
    const origins = ['a', 'b', 'c'];
    for (let n = 0; n < 200; n++) {
      const origin = origins[(n * 7) % 3];
      const id = n % 11 === 0 ? BigInt(n) : n;
      const handled = n % 2 === 0;
      reference.set(origin, id, handled);
      window.set(origin, id, handled);
      if (n % 3 === 0) {
        window.markHandled(origin, id);
        reference.markHandled(origin, id);
      }
      for (const o of origins) {
        for (let back = 0; back < 12; back++) {
          const old = n - back;
          const oldId = old % 11 === 0 ? BigInt(old) : old;
          expect(window.get(o, oldId)).toBe(reference.get(o, oldId));
        }
      }
      expect(window.size).toBe(reference.entries.size);
    }
  });

  it('answers a re-sent id that is still in the window without taking a new slot', () => {
    const window = new DuplicateWindow(2);
    window.set('a', 1, false);
    window.set('a', 1, true);
    window.set('a', 2, false);
    expect(window.get('a', 1)).toBe(true);
    expect(window.size).toBe(2);
    window.set('b', 3, false);
    expect(window.get('a', 1)).toBeUndefined();
    expect(window.get('a', 2)).toBe(false);
    expect(window.get('b', 3)).toBe(false);
  });

  it('wraps its ring: after many times its capacity, exactly the newest entries remain, in order of leaving', () => {
    const window = new DuplicateWindow(3);
    for (let id = 0; id < 100; id++) window.set('a', id, id % 2 === 0);
    expect(window.size).toBe(3);
    for (let id = 0; id < 97; id++) expect(window.get('a', id)).toBeUndefined();
    expect([97, 98, 99].map((id) => window.get('a', id))).toEqual([false, true, false]);
    window.set('a', 100, true);
    expect(window.get('a', 97)).toBeUndefined();
    expect(window.get('a', 98)).toBe(true);
  });

  it('tells ids apart by all 64 bits: numbers past 2^32 and bigints past 2^53', () => {
    const window = new DuplicateWindow(16);
    const ids: U64[] = [5, 2 ** 32 + 5, 2 ** 52 + 5, 2 ** 53 - 1, 2n ** 53n, 2n ** 64n - 1n, (5n << 32n) | 5n, 2n ** 63n + 5n];
    ids.forEach((id, n) => window.set('a', id, n % 2 === 0));
    ids.forEach((id, n) => expect(window.get('a', id)).toBe(n % 2 === 0));
    expect(window.get('a', 2 ** 32 + 6)).toBeUndefined();
    expect(window.get('a', 2n ** 64n - 2n)).toBeUndefined();
    expect(window.size).toBe(ids.length);
  });

  it('finds entries past a collision run that wraps the end of its index after earlier members leave', () => {
    // Capacity 4: an index of 8 positions. Three ids at home 7 take 7, 0 and 1; one at home 0 is pushed to 2.
    const window = new DuplicateWindow(4);
    const [a, b, c] = idsAtHome(7, 7, 3);
    const [d, e] = idsAtHome(0, 7, 2);
    const [f, g] = idsAtHome(3, 7, 2);
    const model = new ModelWindow(4);
    const order = [a, b, c, d, f, e, g, 1_000_001, 1_000_002, 1_000_003, 1_000_004];
    for (const id of order) {
      window.set('x', id, id % 2 === 1);
      model.set('x', id, id % 2 === 1);
      for (const probe of [...order, 999_999]) expect(window.get('x', probe)).toBe(model.get('x', probe));
    }
    expect(window.size).toBe(4);
  });

  it('starts small and grows through 4,096 and 16,384 slots to its capacity, then allocates nothing more', () => {
    const window = new DuplicateWindow(5000);
    expect(window.allocated).toBe(1024);
    const seen: number[] = [];
    for (let id = 0; id < 20_000; id++) {
      window.set(`o${id % 7}`, id, false);
      if (seen[seen.length - 1] !== window.allocated) seen.push(window.allocated);
    }
    expect(seen).toEqual([1024, 4096, 5000]);
    expect(window.size).toBe(5000);
    const large = new DuplicateWindow(100_000);
    const steps: number[] = [];
    for (let id = 0; id < 120_000; id++) {
      large.set('o', id, true);
      if (steps[steps.length - 1] !== large.allocated) steps.push(large.allocated);
    }
    expect(steps).toEqual([1024, 4096, 16_384, 100_000]);
    expect(large.get('o', 19_999)).toBeUndefined();
    expect(large.get('o', 20_000)).toBe(true);
    expect(window.get('o0', 14_994)).toBeUndefined();
    expect(window.get(`o${19_999 % 7}`, 19_999)).toBe(false);
    expect(window.get(`o${15_000 % 7}`, 15_000)).toBe(false);
    expect(window.get(`o${14_999 % 7}`, 14_999)).toBeUndefined();
  });

  it('serves many origins, and forgets an origin whose last entry has left', () => {
    const capacity = 64;
    const window = new DuplicateWindow(capacity);
    const model = new ModelWindow(capacity);
    // 1,000 publishers (as after many restarts), each sending a few ids.
    for (let n = 0; n < 4000; n++) {
      const origin = `p${Math.floor(n / 4)}`;
      window.set(origin, n % 4, n % 3 === 0);
      model.set(origin, n % 4, n % 3 === 0);
    }
    expect(window.size).toBe(capacity);
    expect(window.origins).toBe(capacity / 4);
    for (let p = 0; p < 1000; p++) for (let id = 0; id < 4; id++) expect(window.get(`p${p}`, id)).toBe(model.get(`p${p}`, id));
    // Same ids, other origins: not confused.
    window.set('q', 3, true);
    expect(window.get('q', 3)).toBe(true);
    expect(window.get('p999', 3)).toBe(model.get('p999', 3));
  });

  it('keeps an origin whose only entry leaves to make room for its own next one', () => {
    const window = new DuplicateWindow(1);
    window.set('a', 1, false);
    window.set('a', 2, true);
    expect(window.get('a', 1)).toBeUndefined();
    expect(window.get('a', 2)).toBe(true);
    window.set('b', 2, false);
    expect(window.get('a', 2)).toBeUndefined();
    expect(window.get('b', 2)).toBe(false);
    expect(window.origins).toBe(1);
  });

  it.each([1, 2, 3, 7, 16, 100, 1500])('behaves as the map model under a seeded random schedule (capacity %i)', (capacity) => {
    const random = seededRandom(capacity * 7919);
    const window = new DuplicateWindow(capacity);
    const model = new ModelWindow(capacity);
    const origins = Array.from({ length: 1 + random.int(12) }, (_, n) => `origin-${n}`);
    const idRange = capacity * 3 + 5;
    const idOf = (n: number): U64 => (n % 5 === 0 ? BigInt(n) + 2n ** 60n : n % 5 === 1 ? n + 2 ** 40 : n);
    const differences: string[] = [];
    for (let step = 0; step < 20_000; step++) {
      const origin = origins[random.int(origins.length)];
      const id = idOf(random.int(idRange));
      const roll = random.int(10);
      if (roll < 5) {
        const handled = random.int(2) === 0;
        window.set(origin, id, handled);
        model.set(origin, id, handled);
      } else if (roll < 7) {
        window.markHandled(origin, id);
        model.markHandled(origin, id);
      } else if (roll === 7) {
        window.markRefused(origin, id);
        model.markRefused(origin, id);
      } else if (window.get(origin, id) !== model.get(origin, id)) differences.push(`step ${step}: get ${origin}/${id}`);
      if (window.size !== model.entries.size) differences.push(`step ${step}: size ${window.size}`);
    }
    expect(differences).toEqual([]);
    for (const origin of origins) for (let n = 0; n < idRange; n++) expect(window.get(origin, idOf(n))).toBe(model.get(origin, idOf(n)));
    expect(window.origins).toBe(new Set([...model.entries.keys()].map((key) => key.split('/')[0])).size);
  });

  it('looks up a refused entry as absent, and records it again in its place when it is set', () => {
    const window = new DuplicateWindow(2);
    window.set('a', 1, false);
    window.set('a', 2, false);
    window.markRefused('a', 1);
    window.markRefused('a', 3);
    expect(window.get('a', 1)).toBeUndefined();
    expect(window.get('a', 3)).toBeUndefined();
    expect(window.size).toBe(2);
    // The lookup that found it refused is not a remembered miss: set() updates the entry instead of adding one.
    expect(window.get('a', 1)).toBeUndefined();
    window.set('a', 1, true);
    expect(window.get('a', 1)).toBe(true);
    expect(window.get('a', 2)).toBe(false);
    expect(window.size).toBe(2);
    // Still the oldest: the next new id replaces it.
    window.set('a', 4, false);
    expect(window.get('a', 1)).toBeUndefined();
    expect(window.get('a', 2)).toBe(false);
  });

  it('records a refusal of an id it does not hold, and tells refused entries apart from absent ones', () => {
    const window = new DuplicateWindow(4);
    window.set('a', 1, false);
    window.refusedNow('a', 1);
    window.refusedNow('a', 2);
    window.refusedNow('b', 3);
    expect([window.isRefused('a', 1), window.isRefused('a', 2), window.isRefused('b', 3), window.isRefused('a', 3)]).toEqual([true, true, true, false]);
    expect([window.get('a', 1), window.get('a', 2)]).toEqual([undefined, undefined]);
    expect(window.size).toBe(3);
    window.set('a', 2, true);
    expect(window.isRefused('a', 2)).toBe(false);
    expect(window.get('a', 2)).toBe(true);
  });

  it('rejects a capacity that is not a positive integer', () => {
    expect(() => new DuplicateWindow(0)).toThrow(RangeError);
    expect(() => new DuplicateWindow(1.5)).toThrow(RangeError);
  });
});

describe('DuplicateWindow against an insertion-ordered Map (seeded)', () => {
  /** xorshift32: the same sequence every run. */
  const random = (seed: number) => () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };

  it.each([1, 2, 3])('agrees on every lookup over 20,000 operations with origin churn, large and bigint ids (seed %i)', (seed) => {
    const next = random(seed * 7919);
    const capacity = 257;
    const window = new DuplicateWindow(capacity);
    const reference = new Map<string, boolean>();
    // Numbers up to 2^53 - 1 and bigints above (canonical U64), from a small pool so ids repeat.
    const pool: (number | bigint)[] = [];
    for (let i = 0; i < 400; i++) {
      const kind = i % 4;
      pool.push(kind === 0 ? i : kind === 1 ? 2 ** 52 + i * 2 ** 32 : kind === 2 ? Number.MAX_SAFE_INTEGER - i : 2n ** 63n + BigInt(i) * 2n ** 32n);
    }
    let origins = ['a', 'b', 'c'];
    for (let n = 0; n < 20_000; n++) {
      if (n % 2_000 === 0) origins = [origins[1]!, origins[2]!, `origin-${n}`];
      const origin = origins[Math.floor(next() * origins.length)]!;
      const id = pool[Math.floor(next() * pool.length)]!;
      const key = `${origin}/${typeof id}/${id}`;
      const action = next();
      if (action < 0.6) {
        const handled = next() < 0.5;
        if (!reference.has(key)) {
          reference.set(key, handled);
          if (reference.size > capacity) reference.delete(reference.keys().next().value!);
        } else reference.set(key, handled);
        window.set(origin, id, handled);
      } else if (action < 0.8) {
        window.markHandled(origin, id);
        if (reference.has(key)) reference.set(key, true);
      }
      expect(window.get(origin, id)).toBe(reference.get(key));
      expect(window.size).toBe(reference.size);
    }
    for (const [key, handled] of reference) {
      const [origin, type, text] = key.split('/') as [string, string, string];
      expect(window.get(origin, type === 'bigint' ? BigInt(text) : Number(text))).toBe(handled);
    }
  });

  it('forgets origins whose entries all left', () => {
    // Ids are canonical U64s (bytes.ts): below 2^53 always numbers, so 5 and 5n never both occur.
    const window = new DuplicateWindow(2);
    window.set('a', 5, true);
    window.set('b', 1, false);
    window.set('b', 2, false);
    expect(window.get('a', 5)).toBeUndefined();
    window.set('a', 5, false);
    expect(window.get('a', 5)).toBe(false);
    expect(window.get('b', 1)).toBeUndefined();
    expect(window.size).toBe(2);
  });

  it('keeps an origin whose last entry made room for its next one, apart from origins that come later', () => {
    const window = new DuplicateWindow(1);
    window.set('a', 1, true);
    window.set('a', 2, false);
    expect(window.get('a', 2)).toBe(false);
    expect(window.get('a', 1)).toBeUndefined();
    window.set('b', 2, true);
    expect(window.get('b', 2)).toBe(true);
    expect(window.get('a', 2)).toBeUndefined();
    window.set('c', 3, true);
    window.set('a', 2, false);
    expect(window.get('a', 2)).toBe(false);
    expect(window.get('b', 2)).toBeUndefined();
    expect(window.get('c', 3)).toBeUndefined();
    expect(window.size).toBe(1);
  });

  it('records a new id found missing by the get() before it, also when other work comes between them (seeded, against the model)', () => {
    // take() asks get(origin, id) and then set()s the same id; set() reuses the miss's search unless the index changed since.
    for (const capacity of [3, 1500, 5000]) {
      const window = new DuplicateWindow(capacity);
      const model = new ModelWindow(capacity);
      const random = seededRandom(capacity * 31);
      const origins = ['a', 'b', 'c', 'd'];
      const ids: [string, number][] = [];
      let next = 1;
      for (let n = 0; n < 12_000; n++) {
        const origin = origins[random.int(origins.length)];
        const id = random.int(10) === 0 && ids.length > 0 ? ids[random.int(ids.length)][1] : next++;
        expect(window.get(origin, id)).toBe(model.get(origin, id));
        // Between the lookup and the record: nothing, a lookup or mark of another id, or a record of another id (evicting, growing).
        const between = random.int(4);
        const [otherOrigin, otherId] = ids.length > 0 ? ids[random.int(ids.length)] : ['a', 0];
        if (between === 1) expect(window.get(otherOrigin, otherId)).toBe(model.get(otherOrigin, otherId));
        if (between === 2) {
          window.markHandled(otherOrigin, otherId);
          model.markHandled(otherOrigin, otherId);
        }
        if (between === 3) {
          window.set(otherOrigin, next, false);
          model.set(otherOrigin, next, false);
          ids.push([otherOrigin, next++]);
        }
        const handled = random.int(2) === 0;
        window.set(origin, id, handled);
        model.set(origin, id, handled);
        ids.push([origin, id]);
        if (ids.length > 3 * capacity + 10) ids.splice(0, ids.length - 2 * capacity);
      }
      expect(window.size).toBe(model.entries.size);
      for (const key of model.entries.keys()) {
        const [origin, id] = key.split('/') as [string, string];
        expect(window.get(origin, Number(id))).toBe(model.get(origin, Number(id)));
      }
      for (const [origin, id] of ids) expect(window.get(origin, id)).toBe(model.get(origin, id));
    }
  });

  it('does not reuse a miss once another id took its place, or once the index grew', () => {
    const window = new DuplicateWindow(4096);
    // Origin 'a' gets number 0, whose ids idsAtHome finds; 1024 slots, an index of 2048.
    window.set('a', 1_000_001, false);
    const [first, second] = idsAtHome(5, 2047, 2);
    expect(window.get('a', first)).toBeUndefined();
    window.set('a', second, false);
    window.set('a', first, true);
    expect(window.get('a', second)).toBe(false);
    expect(window.get('a', first)).toBe(true);
    // Fill the first 1024 slots; the next set grows the window to its capacity (an index of 8192) and rehashes.
    for (let id = 2_000_000; window.size < 1024; id++) window.set('a', id, false);
    expect(window.allocated).toBe(1024);
    let moved = 3_000_000;
    while ((hashOf(0, 0, moved) & 2048) === 0 || window.get('a', moved) !== undefined) moved++;
    window.set('a', moved, true);
    expect(window.allocated).toBe(4096);
    expect(window.get('a', moved)).toBe(true);
    expect(window.get('a', second)).toBe(false);
  });

  describe('floors', () => {
    it('retires floored entries below their origin\'s floor before growing: a publisher whose floor trails keeps the window at its first slots', () => {
      const window = new DuplicateWindow(1 << 17);
      const behind = 500;
      for (let id = 1; id <= 50_000; id++) {
        window.setFloor('p', Math.max(1, id - behind));
        window.set('p', id, id % 3 === 0, true);
      }
      expect(window.allocated).toBe(1024);
      expect(window.size).toBe(1024);
      // Everything at or above the floor is answered; the oldest retired entries were reused first.
      for (let id = 50_000 - behind; id <= 50_000; id++) expect(window.get('p', id)).toBe(id % 3 === 0);
      expect(window.get('p', 50_000 - 1024)).toBeUndefined();
    });

    it('never retires an entry recorded without its floor: a broker\'s forwards share its publisher\'s origin and ids', () => {
      const window = new DuplicateWindow(1 << 17);
      // Even ids from the publisher (floored), odd ones from the same broker's forwarder (not).
      for (let id = 1; id <= 4000; id++) {
        window.setFloor('b', id);
        window.set('b', id, false, id % 2 === 0);
      }
      expect(window.allocated).toBe(4096);
      for (let id = 1; id < 4000; id += 2) expect(window.get('b', id)).toBe(false);
      // The floored ones below the floor stay too until space is needed: retiring only replaces.
      expect(window.get('b', 2)).toBe(false);
    });

    it('takes the latest floor, not the highest: a publisher restarted under its node key starts its ids lower', () => {
      const window = new DuplicateWindow(1 << 17);
      for (let id = 9001; id <= 10_000; id++) window.set('p', id, true, true);
      window.setFloor('p', 10_001);
      // The new instance's ids start at 500 and its floor with them.
      for (let id = 500; id < 500 + 3000; id++) {
        window.setFloor('p', 500);
        window.set('p', id, false, true);
      }
      expect(window.get('p', 500)).toBe(false);
      expect(window.get('p', 3499)).toBe(false);
      // The previous instance's entries are above the new floor: kept, so the window grew instead.
      expect(window.get('p', 10_000)).toBe(true);
      expect(window.allocated).toBe(4096);
    });

    it('ignores a floor for an origin it does not hold', () => {
      const window = new DuplicateWindow(1 << 17);
      window.setFloor('z', 100);
      window.set('z', 5, true, true);
      for (let id = 1; id < 1024; id++) window.set('y', id, true, true);
      window.setFloor('y', 1_000_000);
      // Full, and the oldest entry is 'z' 5: kept (the window grows), as 'z' had no floor when it came.
      window.set('y', 1024, true, true);
      expect(window.allocated).toBe(4096);
      expect(window.get('z', 5)).toBe(true);
    });

    it('forgets an origin\'s floor with its last entry', () => {
      const window = new DuplicateWindow(1 << 17);
      for (let id = 1; id <= 10; id++) window.set('x', id, true, true);
      window.setFloor('x', 100);
      let y = 1;
      while (window.size < 1024) window.set('y', y++, true, true);
      window.setFloor('y', 1_000_000);
      // Ten more replace the retired 'x' entries: 'x' leaves, its floor with it.
      for (let n = 0; n < 10; n++) window.set('y', y++, true, true);
      expect(window.origins).toBe(1);
      window.set('x', 5, true, true);
      for (let n = 0; n < 1023; n++) window.set('y', y++, true, true);
      expect(window.allocated).toBe(1024);
      // 'x' 5 is the oldest now: below the old floor of 100, but that floor left with 'x'.
      window.set('y', y++, true, true);
      expect(window.allocated).toBe(4096);
      expect(window.get('x', 5)).toBe(true);
    });

    it('agrees with a model of retiring, growing and evicting under a random schedule (seeded)', () => {
      const capacity = 20_000;
      for (const seed of [1, 2, 3]) {
        const random = seededRandom(seed);
        const window = new DuplicateWindow(capacity);
        const model = new FloorModel(capacity);
        const origins = ['p', 'q', 'r'];
        const next = new Map(origins.map((o, n) => [o, 1000 * n] as [string, number]));
        for (let step = 0; step < 30_000; step++) {
          // 'r' is a broker's forwarder (never floored), busy for a while only: once its entries are the oldest, the window grows.
          const origin = origins[random.int(step >= 15_000 && step < 16_000 ? 3 : 2)];
          const roll = random.next();
          if (roll < 0.1) {
            // A floor some way behind the origin's newest id, now and then far behind (a stalled key).
            const newest = next.get(origin)!;
            const floor = Math.max(0, newest - (random.next() < 0.02 ? random.int(20_000) : random.int(400)));
            window.setFloor(origin, floor);
            model.setFloor(origin, floor);
          } else if (roll < 0.15) {
            const id = Math.max(0, next.get(origin)! - random.int(3000));
            window.markHandled(origin, id);
            model.markHandled(origin, id);
          } else {
            // Mostly new ids; sometimes a retry of a recent one.
            const newest = next.get(origin)! + 1;
            const id = random.next() < 0.9 ? newest : Math.max(0, newest - random.int(50));
            if (id === newest) next.set(origin, newest);
            const handled = random.next() < 0.5;
            window.set(origin, id, handled, origin !== 'r');
            model.set(origin, id, handled, origin !== 'r');
          }
          if (step % 211 === 0) {
            expect(window.size).toBe(model.size);
            expect(window.allocated).toBe(model.allocated);
            expect(window.origins).toBe(model.origins);
            for (const o of origins) {
              const top = next.get(o)!;
              for (let back = 0; back < 40; back++) expect(window.get(o, top - back * 37)).toBe(model.get(o, top - back * 37));
            }
          }
        }
        expect(model.allocated).toBeGreaterThan(1024);
        expect(model.retired).toBeGreaterThan(100);
      }
    });
  });
});

/** The retiring policy (DuplicateWindow's class comment), written plainly: a Map in age order and the slots it may use. */
class FloorModel {
  private readonly entries = new Map<string, { origin: string; id: number; handled: boolean; floored: boolean }>();
  private readonly floors = new Map<string, number>();
  private readonly perOrigin = new Map<string, number>();
  allocated = 1024;
  /** Entries that left because they had retired (before the window was full to its capacity). */
  retired = 0;
  constructor(private readonly capacity: number) {}
  get size(): number {
    return this.entries.size;
  }
  get origins(): number {
    return this.perOrigin.size;
  }
  get(origin: string, id: number): boolean | undefined {
    return this.entries.get(`${origin}/${id}`)?.handled;
  }
  setFloor(origin: string, floor: number): void {
    if (this.perOrigin.has(origin)) this.floors.set(origin, floor);
  }
  markHandled(origin: string, id: number): void {
    const entry = this.entries.get(`${origin}/${id}`);
    if (entry !== undefined) entry.handled = true;
  }
  set(origin: string, id: number, handled: boolean, floored: boolean): void {
    const key = `${origin}/${id}`;
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      entry.handled = handled;
      entry.floored ||= floored;
      return;
    }
    this.perOrigin.set(origin, (this.perOrigin.get(origin) ?? 0) + 1);
    if (this.entries.size === this.allocated) {
      const [oldestKey, oldest] = this.entries.entries().next().value!;
      const floor = this.floors.get(oldest.origin);
      const retired = oldest.floored && floor !== undefined && oldest.id < floor;
      if (!retired && this.allocated < this.capacity) this.allocated = Math.min(this.capacity, this.allocated < 16_384 ? this.allocated * 4 : this.capacity);
      else {
        if (this.allocated < this.capacity) this.retired++;
        this.entries.delete(oldestKey);
        const left = this.perOrigin.get(oldest.origin)! - 1;
        if (left > 0) this.perOrigin.set(oldest.origin, left);
        else {
          this.perOrigin.delete(oldest.origin);
          this.floors.delete(oldest.origin);
        }
      }
    }
    this.entries.set(key, { origin, id, handled, floored });
  }
}
