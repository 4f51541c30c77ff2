import { within } from '../../harness/within';

/**
 * Collects what handlers saw, in the order they saw it, and lets a spec
 * await a condition on the entries instead of sleeping. Every wait is bounded.
 */
export class Recorder<T> {
  readonly entries: T[] = [];
  readonly #waiters = new Set<{ done: (entries: readonly T[]) => boolean; resolve: () => void }>();

  push(entry: T): void {
    this.entries.push(entry);
    for (const waiter of [...this.#waiters]) {
      if (waiter.done(this.entries)) {
        this.#waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  /** Resolves with the entries once at least `count` have arrived. */
  until(count: number, timeoutMs = 10_000): Promise<T[]> {
    return this.untilTrue((entries) => entries.length >= count, timeoutMs, `${count} entries`);
  }

  /** Resolves with the entries once `done(entries)` holds; rejects after `timeoutMs`. */
  async untilTrue(done: (entries: readonly T[]) => boolean, timeoutMs: number, what: string): Promise<T[]> {
    if (!done(this.entries)) {
      let waiter: { done: (entries: readonly T[]) => boolean; resolve: () => void } | undefined;
      const reached = new Promise<void>((resolve) => {
        waiter = { done, resolve };
        this.#waiters.add(waiter);
      });
      await within(reached, timeoutMs, `${what} (have ${this.entries.length})`).finally(() => this.#waiters.delete(waiter!));
    }
    return this.entries;
  }
}
