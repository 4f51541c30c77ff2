import type { Subscription } from '../core/pubsub';
import type { NatsSubscriptionLike } from './nats-connection';

/**
 * One subscription of a NatsPubSub, in its set of active subscriptions until
 * unsubscribed; the adapter drains or stops the rest when it closes.
 */
export class NatsSubscription implements Subscription {
  constructor(
    readonly subject: string,
    private readonly sub: NatsSubscriptionLike,
    private readonly active: Set<NatsSubscription>,
  ) {}

  unsubscribe(): void {
    if (this.active.delete(this)) this.stop();
  }

  drain(): Promise<void> {
    return this.sub.isClosed() ? Promise.resolve() : this.sub.drain();
  }

  stop(): void {
    try {
      if (!this.sub.isClosed()) this.sub.unsubscribe();
    } catch {
      // The connection closed first, and the server dropped the subscription with it.
    }
  }
}

/** How a bounded drain ended (settleWithin). */
export type DrainOutcome = 'drained' | 'timeout' | { error: unknown };

/** Runs `operation`, turning a synchronous throw into a rejection. */
export function attempt(operation: () => Promise<void>): Promise<void> {
  try {
    return operation();
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Throws the first rejection's reason, if any. */
export function firstRejection(results: PromiseSettledResult<void>[]): void {
  const rejected = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (rejected !== undefined) throw rejected.reason;
}

/** Waits for `promise` at most `timeoutMs`; never rejects. */
export function settleWithin(promise: Promise<void>, timeoutMs: number): Promise<DrainOutcome> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), timeoutMs);
    promise.then(
      () => resolve('drained'),
      (error: unknown) => resolve({ error }),
    ).finally(() => clearTimeout(timer));
  });
}
