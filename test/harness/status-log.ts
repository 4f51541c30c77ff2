import type { PubSub, PubSubStatus } from 'nestjs-flow/core';
import { within } from './within';

/** Records the status events of a PubSub and lets a test await one. */
export class StatusLog {
  readonly seen: PubSubStatus[] = [];
  private readonly waiters: { status: PubSubStatus; from: number; resolve: (index: number) => void }[] = [];

  constructor(pubsub: PubSub) {
    pubsub.onStatus((status) => {
      this.seen.push(status);
      const index = this.seen.length - 1;
      for (let i = this.waiters.length - 1; i >= 0; i--) {
        const waiter = this.waiters[i]!;
        if (waiter.status === status && index >= waiter.from) {
          this.waiters.splice(i, 1);
          waiter.resolve(index);
        }
      }
    });
  }

  /** Resolves with the index of the first `status` at or after index `from`; rejects after `timeoutMs`. */
  waitFor(status: PubSubStatus, timeoutMs = 10_000, from = 0): Promise<number> {
    const index = this.seen.indexOf(status, from);
    if (index >= 0) return Promise.resolve(index);
    const seen = new Promise<number>((resolve) => this.waiters.push({ status, from, resolve }));
    return within(seen, timeoutMs, `status "${status}" (seen: ${this.seen.join(', ') || 'none'})`);
  }
}
