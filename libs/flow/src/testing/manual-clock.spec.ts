import { ManualClock } from './manual-clock';

describe('ManualClock', () => {
  it('fires timers in due order, ties in the order they were set, with now() at each due time', () => {
    const clock = new ManualClock(1000);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push(`b@${clock.now()}`), 20);
    clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10);
    clock.setTimeout(() => fired.push(`c@${clock.now()}`), 20);

    expect(clock.advance(15)).toBe(1);
    expect(clock.advance(5)).toBe(2);
    expect(fired).toEqual(['a@1010', 'b@1020', 'c@1020']);
    expect(clock.now()).toBe(1020);
  });

  it('fires a timer set by a callback within the same advance when it falls due', () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    const tick = (): void => {
      fired.push(clock.now());
      if (fired.length < 5) clock.setTimeout(tick, 10);
    };
    clock.setTimeout(tick, 10);
    clock.advance(35);
    expect(fired).toEqual([10, 20, 30]);
    expect(clock.nextDue()).toBe(40);
  });

  it('never fires a cleared timer', () => {
    const clock = new ManualClock();
    let fired = false;
    const handle = clock.setTimeout(() => (fired = true), 5);
    clock.clearTimeout(handle);
    clock.advance(10);
    expect(fired).toBe(false);
    expect(clock.pending).toBe(0);
  });

  it('stops an endless chain of 0 ms timers with an error instead of spinning', () => {
    const clock = new ManualClock();
    const again = (): void => void clock.setTimeout(again, 0);
    clock.setTimeout(again, 0);
    expect(() => clock.advance(1)).toThrow(RangeError);
  });

  it('rejects a negative advance', () => {
    expect(() => new ManualClock().advance(-1)).toThrow(/advance/);
  });
});
