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
