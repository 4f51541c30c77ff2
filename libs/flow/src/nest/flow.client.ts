import { Injectable } from '@nestjs/common';
import { ClientProxy, ReadPacket, WritePacket } from '@nestjs/microservices';
import { Subscription } from 'rxjs';
import { Broker, ErrorCode, FlowError, InvalidOptionError } from '../core';
import { FlowBrokerHost, FlowStatus } from './broker-host';
import { FlowRecord } from './flow-record';
import type { FlowServerEvents } from './flow.server';

export interface FlowPublishOptions {
  /** Partition key (a string is UTF-8 encoded). Overrides a FlowRecord's key. */
  readonly key?: string | Uint8Array;
  /**
   * A keyed message sent direct to its owner: true (default) resolves once the
   * owner accepted it, and the client keeps it until handled (re-sent to a new
   * owner if that one dies); false resolves once sent. See Broker.publish.
   */
  readonly ack?: boolean;
}

export interface FlowRequestOptions {
  /** Partition key (a string is UTF-8 encoded). Overrides a FlowRecord's key. */
  readonly key?: string | Uint8Array;
  /** ms; default: the module's `requestTimeout`. */
  readonly timeout?: number;
  readonly signal?: AbortSignal;
  /** Resolve to the reply's bytes instead of the deserialized reply. Default false. */
  readonly raw?: boolean;
}

interface OutgoingMessage {
  readonly stream: string;
  readonly data: Uint8Array;
  readonly key: string | Uint8Array | undefined;
}

/**
 * Publishes messages and sends requests through the app's broker (the same
 * NATS connection as FlowServer). An app with a FlowClient and no handlers is a
 * publisher: its broker never joins the ring and owns no partitions.
 *
 * Everyday API: `publish(stream, payload, { key })` and
 * `request(stream, payload, { key, timeout })`, both promises.
 * Nest's API: `emit(stream, payload)` publishes at once, whether or not the
 * returned Observable is subscribed (hot, as in Nest); `send(stream, payload)`
 * sends the request on subscription and emits the reply (cold). Pass a
 * FlowRecord as the payload to give either a partition key.
 *
 * Partition keys are the publisher's choice: the `key` option, a FlowRecord,
 * or the module's `keys` option (a function per stream). A message with none
 * is unkeyed: allowed, handled by whichever broker receives it, with no
 * per-key order.
 *
 * While the transport is down, publish/emit and request/send reject at once
 * with FLOW_TRANSPORT (or publish waits in the `reconnectBuffer`, if set).
 */
@Injectable()
export class FlowClient extends ClientProxy<FlowServerEvents, FlowStatus> {
  readonly #statusSubscription: Subscription;

  constructor(private readonly host: FlowBrokerHost) {
    super();
    this.#statusSubscription = host.status.subscribe((status) => this._status$.next(status));
  }

  /** Starts the app's broker if it has not started yet; resolves to it. */
  connect(): Promise<Broker> {
    return this.host.start();
  }

  /**
   * Does not close anything: the broker and its connection belong to the app
   * (FlowModule), which shuts them down with the app. Only stops status updates.
   */
  close(): void {
    this.#statusSubscription.unsubscribe();
  }

  /** The app's Broker. Throws before it has started (any call of connect(), emit, send, publish or request starts it). */
  unwrap<T = Broker>(): T {
    return this.host.unwrap('FlowClient', 'call connect() first') as T;
  }

  /** Subscribes to broker events ('joined', 'left', 'suspected', 'status', 'error', 'partitionsAcquired', 'partitionsReleased'); returns the unsubscribe function. */
  override on<E extends keyof FlowServerEvents = keyof FlowServerEvents, C extends FlowServerEvents[E] = FlowServerEvents[E]>(
    event: E,
    callback: C,
  ): () => void {
    return this.host.on(event, callback);
  }

  /**
   * Publishes a message on a message stream. A keyed one, once the client
   * knows the ring, goes direct to its owner and resolves when the owner
   * accepted it (queued there; `ack: false`: once sent); the client keeps it
   * until handled, and sends it on if that owner dies. It rejects when the
   * owner refused it (a RemoteError with the owner's code), with
   * FLOW_OVERLOADED when too many publishes wait for the window, and with
   * FLOW_CLOSED when the client closes first (an open outcome: it may have
   * reached its owner; shutdown waits for what is in flight first). Any
   * other resolves once handed to the transport. While the transport is down
   * it rejects at once with FLOW_TRANSPORT, or, with `reconnectBuffer` > 0,
   * resolves when the held message is sent after the reconnect
   * (FLOW_OVERLOADED beyond the buffer, FLOW_CLOSED on shutdown).
   */
  override publish(stream: string, payload: unknown, options?: FlowPublishOptions): Promise<void>;
  /** @internal ClientProxy's request primitive, behind `send()`. */
  override publish(packet: ReadPacket, callback: (packet: WritePacket) => void): () => void;
  override publish(
    target: string | ReadPacket,
    payloadOrCallback: unknown,
    options: FlowPublishOptions = {},
  ): Promise<void> | (() => void) {
    if (typeof target === 'string') return this.#publish(target, payloadOrCallback, options);
    return this.#sendPacket(target, payloadOrCallback as (packet: WritePacket) => void);
  }

  /**
   * Resolves once every message published so far has reached the NATS
   * server. `publish` only hands a message to the connection; a publisher
   * sending a burst can await this every few thousand messages to pace itself.
   */
  flush(): Promise<void> {
    return this.host.flush();
  }

  /**
   * Sends a request and resolves to the deserialized reply (or its bytes with
   * `raw`). Rejects with RemoteError when the handler failed (its code,
   * message and details); FLOW_NO_HANDLER at once when no broker handles the
   * stream (or it is a message stream); FLOW_TRANSPORT at once while the
   * transport is down; TimeoutError; or AbortedError. A pending request
   * keeps the process alive until it settles.
   */
  async request<TResult = unknown>(stream: string, payload: unknown, options: FlowRequestOptions = {}): Promise<TResult> {
    const broker = await this.connect();
    const message = this.#outgoing(stream, payload, options.key);
    const reply = await broker.request(message.stream, message.data, {
      key: message.key,
      timeout: options.timeout,
      signal: options.signal,
    });
    if (options.raw === true) return reply as TResult;
    return (await this.host.options.deserializer.deserialize(reply, { stream })) as TResult;
  }

  protected dispatchEvent<T = void>(packet: ReadPacket): Promise<T> {
    return this.#publish(packet.pattern, packet.data, {}) as Promise<T>;
  }

  #publish(stream: unknown, payload: unknown, options: FlowPublishOptions): Promise<void> {
    const broker = this.host.ready;
    // Only the first publishes wait for the broker; after that, no extra await per message.
    if (broker === undefined) return this.connect().then(() => this.#publish(stream, payload, options));
    try {
      const message = this.#outgoing(stream, payload, options.key);
      return broker.publish(message.stream, message.data, { key: message.key, ack: options.ack });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #sendPacket(packet: ReadPacket, callback: (packet: WritePacket) => void): () => void {
    const abort = new AbortController();
    this.request(packet.pattern, packet.data, { signal: abort.signal }).then(
      (response) => callback({ response, isDisposed: true }),
      (err: unknown) => callback({ err }),
    );
    // Unsubscribing before the reply abandons the request; after it, aborting is a no-op.
    return () => abort.abort();
  }

  /**
   * The key is, in order: the `key` option, a FlowRecord's key, the module's
   * `keys[stream]` applied to the payload; else the message is unkeyed.
   */
  #outgoing(stream: unknown, payload: unknown, key: string | Uint8Array | undefined): OutgoingMessage {
    if (typeof stream !== 'string') {
      throw new InvalidOptionError('pattern', 'must be a stream name (a string)', stream);
    }
    const record = payload instanceof FlowRecord ? payload : undefined;
    const data = record === undefined ? payload : record.data;
    return {
      stream,
      data: this.host.options.serializer.serialize(data),
      key: key ?? record?.options.key ?? this.#keyOf(stream, data),
    };
  }

  #keyOf(stream: string, payload: unknown): string | Uint8Array | undefined {
    const keyOf = this.host.options.keys.get(stream);
    if (keyOf === undefined) return undefined;
    let key: unknown;
    try {
      key = keyOf(payload);
    } catch (error) {
      throw new FlowError(ErrorCode.InvalidOption, `keys.${stream} threw: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
    if (typeof key !== 'string' && !(key instanceof Uint8Array)) {
      throw new InvalidOptionError(`keys.${stream}`, 'must return a string or a Uint8Array', key);
    }
    return key;
  }
}
