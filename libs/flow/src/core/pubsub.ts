import { utf8Length } from './bytes';
import type { FlowError } from './errors';
/**
 * The port between a broker and a publish/subscribe system (NATS in
 * production, MemoryPubSub in tests and single-process use).
 *
 * Byte ownership:
 * - `publish` takes ownership of `data`: the caller must not modify the array
 *   after the call, because an implementation may queue it before sending.
 * - A handler receives bytes that are read-only and may be shared with other
 *   subscribers of the same message. A handler may keep them as long as it
 *   likes; it must copy before modifying.
 */
export type PubSubHandler = (subject: string, data: Uint8Array, headers?: MessageHeaders) => void;

/**
 * Message headers (NATS headers; the in-memory bus carries them too). Go
 * flow's frames have none and Go brokers ignore them: Flow carries only
 * optional context in them (W3C trace context). A message without headers
 * passes `undefined`, never an empty object, so that path allocates nothing.
 * Read-only for receivers, like the data.
 */
export type MessageHeaders = Readonly<Record<string, string>>;

/**
 * Bytes `headers` take in a NATS message ("NATS/1.0", a "name: value" line
 * each, and a blank line), counted against max_payload with the data. Names
 * and values count in UTF-8, as nats.js writes them: trace context is ASCII,
 * but a custom propagator may write anything.
 */
export function headerBytes(headers: MessageHeaders | undefined): number {
  if (headers === undefined) return 0;
  let bytes = 12;
  for (const name in headers) bytes += utf8Length(name) + utf8Length(headers[name]!) + 4;
  return bytes;
}

export interface SubscribeOptions {
  /** Queue group: each message goes to exactly one member of the group. */
  queue?: string;
}

export interface Subscription {
  readonly subject: string;
  /** Stops delivery to this subscription. Idempotent. */
  unsubscribe(): void;
  /**
   * Optional: stops taking new messages but delivers those the transport
   * already holds for this subscription, then ends it. On NATS a plain
   * unsubscribe discards what the server had already sent to a queue member,
   * so a graceful shutdown drains its stream subscriptions instead.
   */
  drain?(): Promise<void>;
}

/** Connection state as the transport reports it. */
export type PubSubStatus = 'connected' | 'disconnected' | 'reconnecting' | 'reconnected' | 'closed';

export type StatusListener = (status: PubSubStatus, detail?: unknown) => void;

export interface PubSub {
  /**
   * Sends `data` on `subject`. Fire-and-forget, like core NATS: it throws
   * synchronously (a TransportError or ClosedError) only when the message
   * cannot even be handed to the transport. `headers`, when given, travel
   * with the message to every receiver; the caller must not modify them after.
   */
  publish(subject: string, data: Uint8Array, headers?: MessageHeaders): void;

  /**
   * Optional: publishes a request and calls `onNoResponders` (once, never
   * inside this call) when the transport learns that nobody subscribes to
   * `subject` (NATS: the server's 503 no-responders status; the embedded bus:
   * no route). The returned function stops listening; the caller calls it
   * once the request has settled. Throws as publish() does.
   *
   * `onRefused`, when given, is called instead (once, never inside this call)
   * when the server refused the publish, so nobody got it (NATS: a
   * permissions violation for publishing on `subject`); its error names the
   * subject. A transport that enforces no permissions never calls it.
   */
  publishRequest?(
    subject: string,
    data: Uint8Array,
    onNoResponders: () => void,
    headers?: MessageHeaders,
    onRefused?: (error: FlowError) => void,
  ): () => void;

  /** Starts delivering messages on `subject` to `handler`. */
  subscribe(subject: string, options: SubscribeOptions, handler: PubSubHandler): Subscription;

  /** Resolves when everything published so far has reached the server. */
  flush(): Promise<void>;

  /**
   * Optional liveness probe: resolves false when nobody subscribes to
   * `subject` (the subscriber's connection is gone), true when someone does,
   * undefined when the transport cannot tell. `probe` is the message a live
   * subscriber may receive in the process; `timeoutMs` bounds the wait. A
   * broker uses it to tell a dead member from a slow one before suspecting it.
   */
  hasSubscribers?(subject: string, probe: Uint8Array, timeoutMs: number): Promise<boolean | undefined>;

  /**
   * Optional: runs `task` once the transport has handed over the messages it
   * read in this turn of the event loop (NATS: after this round of socket
   * reads). A broker sends its batched notices there, so that one write
   * answers everything that arrived together. Without it, a task runs as a
   * microtask, after the current delivery.
   */
  afterInput?(task: () => void): void;

  /**
   * Optional: true when one larger message costs much less than several
   * small ones (NATS: parsing and routing per message, in both clients and the
   * server). A broker then batches direct FWDs (BrokerOptions.batchForwards).
   */
  readonly prefersBatches?: boolean;

  /**
   * Optional: the largest message, in bytes, that the transport takes now
   * (NATS: the server's max_payload, which counts headers too); undefined when
   * it cannot tell. A broker keeps its forward batches within it, and refuses
   * a publish or request that cannot cross it whole (Broker.publish).
   */
  maxPayload?(): number | undefined;

  /** Registers a status listener; the returned function removes it. */
  onStatus(listener: StatusListener): () => void;

  /**
   * Stops all subscriptions. An implementation closes the underlying
   * connection only if it created it. Idempotent.
   */
  close(): Promise<void>;
}
