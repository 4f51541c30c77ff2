import type { Clock } from './clock';

/**
 * `clock` with every timer callback guarded: what a callback throws goes to
 * `contain` instead of out of the timer (where it would end the process).
 * Timers of a broker act on network input long after it arrived (a forward
 * re-encoded when its owner is overdue, a probe's verdict), so this is where
 * the last of those errors is caught.
 */
export function guardedClock(clock: Clock, contain: (error: unknown) => void): Clock {
  return Object.freeze({
    setTimeout(callback: () => void, ms: number, holdsProcess?: boolean): unknown {
      const guarded = () => {
        try {
          callback();
        } catch (error) {
          contain(error);
        }
      };
      return clock.setTimeout(guarded, ms, holdsProcess);
    },
    clearTimeout: (handle: unknown) => clock.clearTimeout(handle),
    now: () => clock.now(),
  });
}
