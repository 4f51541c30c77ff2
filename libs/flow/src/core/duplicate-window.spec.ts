import { DuplicateWindow } from './duplicate-window';

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
    expect(window.get('a', 1)).toBe(true);
    expect(window.get('a', 2)).toBeUndefined();
    expect(window.size).toBe(2);
  });

  it('forgets the oldest entry over all origins first, as an insertion-ordered map would', () => {
    const capacity = 5;
    const window = new DuplicateWindow(capacity);
    const reference = new Map<string, boolean>();
    const origins = ['a', 'b', 'c'];
    for (let n = 0; n < 200; n++) {
      const origin = origins[(n * 7) % 3];
      const id = n % 11 === 0 ? BigInt(n) : n;
      const handled = n % 2 === 0;
      const key = `${origin}/${id}`;
      if (!reference.has(key)) {
        reference.set(key, handled);
        if (reference.size > capacity) reference.delete(reference.keys().next().value!);
      } else reference.set(key, handled);
      window.set(origin, id, handled);
      if (n % 3 === 0) {
        window.markHandled(origin, id);
        if (reference.has(key)) reference.set(key, true);
      }
      for (const o of origins) {
        for (let back = 0; back < 12; back++) {
          const old = n - back;
          const oldId = old % 11 === 0 ? BigInt(old) : old;
          expect(window.get(o, oldId)).toBe(reference.get(`${o}/${oldId}`));
        }
      }
      expect(window.size).toBe(reference.size);
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

  it('tells a number id from the bigint of the same value, and forgets origins whose entries all left', () => {
    const window = new DuplicateWindow(2);
    window.set('a', 5, true);
    expect(window.get('a', 5n)).toBeUndefined();
    window.set('a', 5n, false);
    expect(window.get('a', 5)).toBe(true);
    expect(window.get('a', 5n)).toBe(false);
    window.set('b', 1, false);
    window.set('b', 2, false);
    expect(window.get('a', 5)).toBeUndefined();
    expect(window.get('a', 5n)).toBeUndefined();
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
});
