import { TimeoutError } from 'nestjs-flow';

/** Registers a wake-up call with some event source; returns the function that unregisters it. */
export type WakeSource = (wake: () => void) => () => void;

export interface WaitUntilOptions {
  /** Event sources after whose events the condition is tested again. */
  readonly sources: readonly WakeSource[];
  readonly timeoutMs: number;
  /** What is awaited, with the progress so far: named in the TimeoutError. */
  readonly describe: () => string;
}

/**
 * Resolves once `condition()` holds, testing it now and after every event of
 * the sources (no polling); rejects with TimeoutError after `timeoutMs`.
 */
export function waitUntil(condition: () => boolean, options: WaitUntilOptions): Promise<void> {
  if (condition()) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const unsubscribers: (() => void)[] = [];
    let settled = false;
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      for (const unsubscribe of unsubscribers) unsubscribe();
      if (error === undefined) resolve();
      else reject(error);
    };
    const timer = setTimeout(
      () => finish(new TimeoutError(`waiting for ${options.describe()}`, options.timeoutMs)),
      options.timeoutMs,
    );
    const wake = (): void => {
      if (condition()) finish();
    };
    for (const source of options.sources) unsubscribers.push(source(wake));
    // A source may fire while being subscribed; what subscribed after that must not stay attached.
    if (settled) for (const unsubscribe of unsubscribers) unsubscribe();
  });
}
