import type { Clock } from './clock';
import { FlowError } from './errors';

/** Kinds tracked at once; a flood of distinct kinds beyond this is reported as one kind. */
const MAX_KINDS = 256;
const OVERFLOW_KIND = 'other';

interface KindState {
  /** Clock time until which further errors of this kind are only counted. */
  quietUntil: number;
  suppressed: number;
  last: FlowError;
  timer: unknown;
}

/**
 * Reports errors caused by network input at a bounded rate, so a stream of bad
 * frames costs a counter increment each instead of a log line each.
 *
 * Per kind (a label chosen by the caller, e.g. `FLOW_PROTOCOL:frame`): the first
 * error goes to `sink` at once; later ones within `intervalMs` are counted, and
 * at the end of that interval one summary error (same code, the count and the
 * last message, the last error as `cause`) goes to `sink`. A kind quiet for a
 * whole interval reports its next error at once again.
 *
 * `sink` must not throw. `stop()` sends the pending summaries and clears the timers.
 * (A broker stops its reporter on close, when network input has stopped.)
 */
export class ErrorReporter {
  private readonly kinds = new Map<string, KindState>();
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly sink: (error: FlowError) => void,
  ) {}

  report(kind: string, error: FlowError): void {
    if (this.stopped) {
      // After stop() nothing may hold a timer: the rare late error goes out at once.
      this.sink(error);
      return;
    }
    if (!this.kinds.has(kind) && this.kinds.size >= MAX_KINDS) kind = OVERFLOW_KIND;
    const now = this.clock.now();
    const state = this.kinds.get(kind);
    if (state === undefined || (state.suppressed === 0 && now >= state.quietUntil)) {
      this.kinds.set(kind, { quietUntil: now + this.intervalMs, suppressed: 0, last: error, timer: undefined });
      this.sink(error);
      return;
    }
    state.suppressed++;
    state.last = error;
    state.timer ??= this.clock.setTimeout(() => this.summarize(kind), Math.max(0, state.quietUntil - now));
  }

  /** Errors counted but not yet reported, over all kinds. */
  get suppressed(): number {
    let n = 0;
    for (const state of this.kinds.values()) n += state.suppressed;
    return n;
  }

  /** Reports every pending summary now and clears the timers; later errors go out unlimited. Idempotent. */
  stop(): void {
    this.stopped = true;
    for (const [kind, state] of this.kinds) {
      if (state.timer !== undefined) this.clock.clearTimeout(state.timer);
      this.summarize(kind);
    }
  }

  private summarize(kind: string): void {
    const state = this.kinds.get(kind);
    if (state === undefined) return;
    state.timer = undefined;
    if (state.suppressed === 0) return;
    const { suppressed, last } = state;
    state.suppressed = 0;
    state.quietUntil = this.clock.now() + this.intervalMs;
    this.sink(
      new FlowError(last.code, `${suppressed} more like this suppressed within ${this.intervalMs} ms; the last: ${last.message}`, {
        cause: last,
      }),
    );
  }
}
