/** Timer functions the broker uses, injectable so tests control time. */
export interface Clock {
  /**
   * `holdsProcess`: the timer keeps the process alive until it fires or is
   * cleared (a pending request's caller is awaiting it). Other timers do not.
   */
  setTimeout(callback: () => void, ms: number, holdsProcess?: boolean): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

/**
 * The real clock. Timers are unref'd where the runtime supports it, so an
 * idle broker's stabilization or ack timers never keep a process alive; a
 * timer that `holdsProcess` (a request's timeout) is not.
 */
export const systemClock: Clock = Object.freeze({
  setTimeout(callback: () => void, ms: number, holdsProcess = false): unknown {
    const handle = globalThis.setTimeout(callback, ms) as unknown as { unref?: () => void };
    if (!holdsProcess && typeof handle.unref === 'function') handle.unref();
    return handle;
  },
  clearTimeout(handle: unknown): void {
    globalThis.clearTimeout(handle as Parameters<typeof globalThis.clearTimeout>[0]);
  },
  now(): number {
    return Date.now();
  },
});

