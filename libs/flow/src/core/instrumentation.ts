import type { Delivery } from './delivery';
import type { MsgPayload } from './frame';
import type { Key } from './key';
import type { MessageHeaders } from './pubsub';

/** One request this broker sent, observed until it settles. */
export interface RequestTrace {
  /** Headers to send with the request (trace context), or undefined. */
  readonly headers: MessageHeaders | undefined;
  /** Called exactly once: with no argument on a reply, else with the error the requester sees. */
  end(error?: unknown): void;
}

/** One handler run, observed from the moment it is accepted until its turn ends. */
export interface HandlerTrace {
  /** Calls `handler` inside the message's context (e.g. the active span); returns what it returns. */
  run<T>(handler: () => T): T;
  /** Headers for the reply of a request (trace context), read after the handler ran. */
  readonly replyHeaders: MessageHeaders | undefined;
  /** Called exactly once when the turn ends: with no argument on success, else with the failure. */
  end(error?: unknown): void;
}

/**
 * Observes a broker's messages for tracing and metrics: the Nest layer plugs
 * OpenTelemetry and prom-client in here; the core knows neither. Optional
 * (BrokerOptions.instrumentation): without it the broker does no telemetry
 * work per message. Methods are called on the hot path and must not throw.
 *
 * Headers: a message carries the headers it arrived with (NATS headers; Go
 * brokers send none) through forwarding to its handler. Without
 * instrumentation they are passed on unchanged.
 */
export interface BrokerInstrumentation {
  /** When true the broker notes when each queued message was queued, for BrokerLoad.oldestQueuedMs. */
  readonly timesQueue: boolean;
  /** A message leaves through Broker.publish; returns the headers to send with it. */
  publish(stream: string, partitionKey: Uint8Array, size: number): MessageHeaders | undefined;
  /** A request leaves through Broker.request. */
  request(stream: string, partitionKey: Uint8Array, size: number): RequestTrace;
  /** `msg` (with the headers it came with) is forwarded to ring position `owner`; returns the FWD's headers. */
  forward(msg: MsgPayload, owner: Key): MessageHeaders | undefined;
  /** `delivery` was accepted for its handler here; `headers` are those it came with. */
  handle(delivery: Delivery, headers: MessageHeaders | undefined): HandlerTrace;
}

/** Work in progress in one broker, read at metrics collection time (not per message). */
export interface BrokerLoad {
  readonly handlersRunning: number;
  /** Messages accepted for their handler and waiting for their turn. */
  readonly handlersQueued: number;
  /** Forwards awaiting their ACK or a free slot in the window. */
  readonly forwardsInFlight: number;
  /** Age of the oldest waiting message, ms; 0 when none waits or the instrumentation does not time the queue. */
  readonly oldestQueuedMs: number;
  /** Publishes this owner remembers to answer their retries (its duplicate window, duplicate-window.ts). */
  readonly publishesRemembered: number;
  /** This broker's own acknowledged publishes not yet handled by their owner, and those waiting for the window (publisher.ts). */
  readonly publishesUnsettled: number;
}

/** Ends `trace` when `reply` settles and passes the outcome on unchanged. */
export function traceReply(reply: Promise<Uint8Array>, trace: RequestTrace): Promise<Uint8Array> {
  return reply.then(
    (bytes) => {
      trace.end();
      return bytes;
    },
    (error: unknown) => {
      trace.end(error);
      throw error;
    },
  );
}
