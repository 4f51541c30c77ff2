import type { LaunchConfig } from './broker-fleet';
import type { WorkerBrokerConfig, WorkerNatsConfig } from './worker-protocol';

/** Timers that make failure detection take about a second instead of tens of seconds. */
export const FAST_TIMERS = { virtualNodes: 16, ackTimeout: 200, stabilizationInterval: 500 } as const;

/**
 * For runs that check exactly-once handling rather than failure detection: an
 * ACK that a loaded CI machine delays past the default 500 ms would be retried
 * (at-least-once) and handled twice. Fast stabilization still heals a member
 * suspected by mistake within a second.
 */
export const PATIENT_TIMERS = { virtualNodes: 16, ackTimeout: 2_000, stabilizationInterval: 500 } as const;

export const MESSAGE_STREAM = 'orders';
export const REQUEST_STREAM = 'quotes';

/** A broker that handles MESSAGE_STREAM and REQUEST_STREAM. */
export function handlerConfig(
  nats: WorkerNatsConfig,
  nodeName: string,
  broker: WorkerBrokerConfig = FAST_TIMERS,
): LaunchConfig {
  return { nats, broker: { nodeName, ...broker }, messageStreams: [MESSAGE_STREAM], requestStreams: [REQUEST_STREAM] };
}

/** A broker without handlers: it publishes and requests, and never joins the ring. */
export function publisherConfig(
  nats: WorkerNatsConfig,
  nodeName: string,
  broker: WorkerBrokerConfig = FAST_TIMERS,
): LaunchConfig {
  return { nats, broker: { nodeName, ...broker }, messageStreams: [], requestStreams: [] };
}
