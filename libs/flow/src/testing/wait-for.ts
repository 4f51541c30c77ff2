import { TimeoutError } from '../core/errors';
import type { MemoryBus } from '../core/memory-pubsub';
import type { ManualClock } from './manual-clock';

export interface WaitForOptions {
  /** Give up after this long: real ms, or virtual ms when `clock` is given. Default 2000. */
  timeoutMs?: number;
  /** Drained before every check, so that a check sees the effects of every message sent so far. */
  bus?: MemoryBus;
  /** A manual clock to move forward by `stepMs` between checks, instead of waiting in real time. */
  clock?: ManualClock;
  /** Virtual ms per step with `clock`. Default 1. */
  stepMs?: number;
  /** What is awaited, for the timeout message. */
  what?: string;
}

/** Real-time pause between checks once the bus is idle: timers (ack, stabilization) need the event loop. */
const POLL_MS = 1;

/**
 * Resolves once `predicate` holds. Each round drains `bus` (when given)
 * and checks; then either advances `clock` by `stepMs` or yields to the
 * event loop for a millisecond. Rejects with a TimeoutError (FLOW_TIMEOUT)
 * after `timeoutMs`, so a test that waits for something that never happens
 * fails with a message instead of hanging.
 */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  options: WaitForOptions = {},
): Promise<void> {
  const { bus, clock, timeoutMs = 2000, stepMs = 1, what = 'condition' } = options;
  if (clock !== undefined && !(stepMs > 0)) throw new RangeError(`waitFor needs stepMs > 0, received ${stepMs}`);
  const now = (): number => (clock === undefined ? Date.now() : clock.now());
  const deadline = now() + timeoutMs;
  // Bounded in count as well as time: a manual clock takes timeoutMs / stepMs steps at most.
  const maxRounds = clock === undefined ? Number.MAX_SAFE_INTEGER : Math.ceil(timeoutMs / stepMs) + 1;
  for (let round = 0; round <= maxRounds; round++) {
    if (bus !== undefined) await bus.idle();
    if (await predicate()) return;
    if (now() >= deadline) break;
    if (clock !== undefined) clock.advance(Math.min(stepMs, deadline - now()));
    else await new Promise<void>((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new TimeoutError(`waitFor ${what}`, timeoutMs);
}
