/**
 * The part of a NATS connection the adapter uses, written structurally so that
 * a connection from `nats` (v2) and one from `@nats-io/transport-node` (v3)
 * both fit without either library's types entering Flow's public API.
 */
export interface NatsMsgLike {
  readonly subject: string;
  readonly data: Uint8Array;
  /** Present only when the message has headers; `code` 503 with no data is the server's "no responders". */
  readonly headers?: NatsHeadersLike;
}

/**
 * NATS message headers (`MsgHdrs` in v2 and v3). Both clients encode the
 * headers of a publish by calling `encode()` on them, so headers built with
 * v2's `headers()` serve a v3 connection too.
 */
export interface NatsHeadersLike {
  keys(): string[];
  /** v2 and v3 answer '' for a missing key. */
  get(key: string): string;
  set(key: string, value: string): void;
  /** The status code of a status message (no responders: 503). */
  readonly code?: number;
}

export type NatsMsgCallback = (error: Error | null, msg: NatsMsgLike) => void;

export interface NatsSubscriptionLike {
  unsubscribe(): void;
  drain(): Promise<void>;
  isClosed(): boolean;
}

/**
 * A status event. v2 puts the server or message in `data`; v3 uses `server`
 * and `error`. Both name the connection events 'disconnect', 'reconnecting'
 * and 'reconnect'; only v3 reports 'close'.
 */
export interface NatsStatusLike {
  readonly type: string;
  readonly data?: unknown;
  readonly server?: string;
  readonly error?: unknown;
  /** nats v2, with a permissions violation: what the server refused (v3 puts it on `error`). */
  readonly permissionContext?: unknown;
}

export interface NatsConnectionLike {
  publish(subject: string, payload?: Uint8Array, options?: { reply?: string; headers?: NatsHeadersLike }): void;
  subscribe(subject: string, options?: { queue?: string; callback?: NatsMsgCallback }): NatsSubscriptionLike;
  flush(): Promise<void>;
  /** Drains every subscription, flushes, then closes. */
  drain(): Promise<void>;
  close(): Promise<void>;
  /** Resolves when the connection has closed, to the Error that closed it, if any. */
  closed(): Promise<void | Error>;
  isClosed(): boolean;
  /** A new iterator per call; it sees only events after the call. */
  status(): AsyncIterable<NatsStatusLike>;
  /** What the server said when the connection was made (nats.js v2 and v3 both keep it here); read for max_payload. */
  readonly info?: { readonly max_payload?: number };
  /** Optional: used only to probe whether a subject has subscribers (no-responders). */
  request?(subject: string, payload?: Uint8Array, options?: { timeout: number }): Promise<unknown>;
}

const METHODS = ['publish', 'subscribe', 'flush', 'drain', 'close', 'closed', 'isClosed', 'status'] as const;

export function isNatsConnectionLike(value: unknown): value is NatsConnectionLike {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return METHODS.every((method) => typeof record[method] === 'function');
}
