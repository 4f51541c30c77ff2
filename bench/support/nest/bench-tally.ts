import { wallClock, type BenchPayload } from './bench-ipc';

/**
 * The work every consumer does per message, the same in the Nest NATS and
 * the Flow handlers: count, note the time, mark the sequence number. Requests
 * are counted and answered with their sequence number.
 */
export class BenchTally {
  events = 0;
  requests = 0;
  lastEventAt = 0;
  readonly seen: Uint8Array;
  readonly errors: Record<string, number> = {};

  constructor(maxEvents: number) {
    this.seen = new Uint8Array(maxEvents);
  }

  event(payload: BenchPayload): void {
    this.events++;
    this.lastEventAt = wallClock();
    const { seq } = payload;
    if (seq >= 0 && seq < this.seen.length && this.seen[seq]! < 255) this.seen[seq]!++;
  }

  request(payload: BenchPayload): { seq: number } {
    this.requests++;
    return { seq: payload.seq };
  }

  get distinct(): number {
    let distinct = 0;
    for (let i = 0; i < this.seen.length; i++) if (this.seen[i] !== 0) distinct++;
    return distinct;
  }

  countError(error: unknown): void {
    const { code, name } = (error ?? {}) as { code?: unknown; name?: unknown };
    const key = typeof code === 'string' || typeof code === 'number' ? String(code) : typeof name === 'string' ? name : 'unknown';
    this.errors[key] = (this.errors[key] ?? 0) + 1;
  }
}

/** Injection token of the process's BenchTally. */
export const BENCH_TALLY = Symbol('BENCH_TALLY');
