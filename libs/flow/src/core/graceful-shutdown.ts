import { asFlowError } from './error-reply';
import { ErrorCode, FlowError, TimeoutError } from './errors';
import type { Clock } from './clock';
import type { Subscription } from './pubsub';

/** Something with work in flight that can say when it has none (handlers, forwards, publishes). */
export interface Drainable {
  readonly inFlight: number;
  drained(): Promise<void>;
}

export interface GracefulShutdownHost {
  readonly clock: Clock;
  /** The stream subscriptions, taken from the broker (it subscribes no more). */
  readonly streams: readonly Subscription[];
  readonly work: readonly Drainable[];
  isClosed(): boolean;
  /** Ownership events for everything owned, awaited (ownership.ts). */
  releaseAll(): Promise<void>;
  close(): Promise<void>;
  reportError(error: FlowError): void;
}

/**
 * The waiting part of Broker.shutdown(), after the broker left the ring:
 * drains the stream subscriptions (messages the transport already holds for
 * us are still routed), waits until no handler, forward or publish is in
 * flight, awaits the `released` listeners, and closes; all within `timeout`
 * ms, else closes anyway and rejects with FLOW_TIMEOUT.
 */
export async function drainAndClose(host: GracefulShutdownHost, timeout: number): Promise<void> {
  const { clock } = host;
  let timer: unknown;
  const expired = new Promise<boolean>((resolve) => {
    timer = clock.setTimeout(() => resolve(true), timeout);
  });
  const drained = drainStreams(host)
    .then(() => drainWork(host))
    .then(() => host.releaseAll())
    .then(() => false);
  const timedOut = await Promise.race([drained, expired]);
  clock.clearTimeout(timer);
  await host.close();
  if (timedOut) throw new TimeoutError('shutdown', timeout);
}

async function drainStreams(host: GracefulShutdownHost): Promise<void> {
  const drain = (subscription: Subscription) =>
    subscription.drain?.().catch((error: unknown) => host.reportError(asFlowError(error, 'draining a stream', ErrorCode.Transport))) ??
    subscription.unsubscribe();
  await Promise.all(host.streams.map(drain));
}

/** Nothing in flight anywhere; a forward that times out re-routes (new work), so loop. */
async function drainWork(host: GracefulShutdownHost): Promise<void> {
  while (!host.isClosed()) {
    for (const part of host.work) await part.drained();
    if (host.work.every((part) => part.inFlight === 0)) return;
  }
}
