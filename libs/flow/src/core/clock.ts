/** Timer functions the broker uses, injectable so tests control time. */
export interface Clock {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

/**
 * The real clock. Timers are unref'd where the runtime supports it, so an
 * idle broker's stabilization or ack timers never keep a process alive.
 */
export const systemClock: Clock = Object.freeze({
  setTimeout(callback: () => void, ms: number): unknown {
    const handle = globalThis.setTimeout(callback, ms) as unknown as { unref?: () => void };
    if (typeof handle.unref === 'function') handle.unref();
    return handle;
  },
  clearTimeout(handle: unknown): void {
    globalThis.clearTimeout(handle as Parameters<typeof globalThis.clearTimeout>[0]);
  },
  now(): number {
    return Date.now();
  },
});
