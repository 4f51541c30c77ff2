import type { Clock } from '../core/clock';

interface Timer {
  readonly at: number;
  /** Creation order, so timers due at the same instant fire in the order they were set. */
  readonly seq: number;
  readonly callback: () => void;
}

/** More timers than this in one `advance` means a timer keeps rescheduling itself at 0 ms. */
const MAX_FIRINGS_PER_ADVANCE = 1_000_000;

/**
 * A Clock whose time moves only when a test calls `advance`. Pass it as the
 * broker's `clock` option: ack, request, stabilization and shutdown timers
 * then fire exactly when the test says, however slow the machine is.
 *
 * Timers fire in due order (ties in the order they were set); during a
 * callback `now()` is the timer's due time. A timer set by a callback fires
 * in the same `advance` when it falls due before the target time.
 */
export class ManualClock implements Clock {
  readonly #timers = new Map<number, Timer>();
  #now: number;
  #seq = 0;

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = ++this.#seq;
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    this.#timers.set(id, { at: this.#now + delay, seq: id, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    if (typeof handle === 'number') this.#timers.delete(handle);
  }

  /** Timers set and neither fired nor cleared. */
  get pending(): number {
    return this.#timers.size;
  }

  /** The due time of the next timer, or undefined when none is pending. */
  nextDue(): number | undefined {
    let next: number | undefined;
    for (const timer of this.#timers.values()) if (next === undefined || timer.at < next) next = timer.at;
    return next;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way.
   * Returns how many fired. Throws if callbacks keep scheduling due timers
   * (an endless 0 ms loop) instead of spinning forever.
   */
  advance(ms: number): number {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`advance needs a finite ms >= 0, received ${ms}`);
    const target = this.#now + ms;
    let fired = 0;
    for (;;) {
      const due = this.#earliestDue(target);
      if (due === undefined) break;
      if (++fired > MAX_FIRINGS_PER_ADVANCE) {
        throw new RangeError(`more than ${MAX_FIRINGS_PER_ADVANCE} timers fired in one advance(${ms})`);
      }
      this.#timers.delete(due.seq);
      this.#now = due.at;
      due.callback();
    }
    this.#now = target;
    return fired;
  }

  #earliestDue(target: number): Timer | undefined {
    let earliest: Timer | undefined;
    for (const timer of this.#timers.values()) {
      if (timer.at > target) continue;
      if (earliest === undefined || timer.at < earliest.at || (timer.at === earliest.at && timer.seq < earliest.seq)) {
        earliest = timer;
      }
    }
    return earliest;
  }
}
