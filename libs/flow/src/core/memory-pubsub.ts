import type { Clock } from './clock';
import { ClosedError, InvalidOptionError, TransportError } from './errors';
import type { FaultHook, HandlerErrorHook, MemoryBusStats } from './memory-exchange';
import { MemoryExchange, MemorySubscription } from './memory-exchange';
import { clockOption } from './options';
import { headerBytes, type MessageHeaders, type PubSubHandler, type PubSub, type PubSubStatus, type StatusListener, type SubscribeOptions, type Subscription } from './pubsub';

export type { BusDelivery, FaultDecision, FaultHook, HandlerErrorHook, MemoryBusStats } from './memory-exchange';

export interface MemoryBusOptions {
  /** Called for each handler that throws; without it such errors are only counted. */
  onHandlerError?: HandlerErrorHook;
  /**
   * The largest message (data and headers, in bytes) a connection takes, as a
   * nats-server's max_payload; a larger one throws a TransportError from
   * publish(). Unbounded when absent.
   */
  maxPayload?: number;
  /**
   * The clock that the fault hook's delays run on: a ManualClock makes them
   * part of a deterministic test. A delivery delayed on it is one of its
   * timers, so idle() does not wait for it. A real setTimeout when absent,
   * and idle() waits for it.
   */
  clock?: Clock;
}

/**
 * A process-local message bus with NATS core semantics: exact subject match,
 * fan-out to every plain subscriber, and one member per queue group.
 *
 * Guarantees:
 * - BusDelivery is asynchronous: never inside publish(). Published messages wait
 *   in one FIFO drained from setImmediate, so messages of one publisher on one
 *   subject arrive in publish order (delayed deliveries excepted, see below).
 * - Each queue group hands its messages to its members in turn, in
 *   subscription order (round-robin per group and subject).
 * - A handler that throws does not affect other deliveries: the error is
 *   counted in `stats.handlerErrors` and passed to `onHandlerError` if set.
 * - A delivery the fault hook delays runs from its own timer (on the `clock`
 *   option's clock when given), so it may overtake or trail other messages;
 *   it is skipped if its subscription has ended by then.
 *
 * Each bus is independent: brokers on different buses never see each other.
 */
export class MemoryBus {
  readonly #exchange = new MemoryExchange();
  #connections = 0;

  constructor(options: MemoryBusOptions = {}) {
    this.#exchange.onHandlerError = options.onHandlerError;
    const { maxPayload } = options;
    if (maxPayload !== undefined && (!Number.isInteger(maxPayload) || maxPayload < 1)) {
      throw new InvalidOptionError('maxPayload', 'must be a positive integer', maxPayload);
    }
    this.#exchange.maxPayload = maxPayload;
    this.#exchange.clock = options.clock === undefined ? undefined : clockOption(options.clock);
  }

  /** Live counters; read-only for callers. */
  get stats(): Readonly<MemoryBusStats> {
    return this.#exchange.stats;
  }

  get onHandlerError(): HandlerErrorHook | undefined {
    return this.#exchange.onHandlerError;
  }

  set onHandlerError(hook: HandlerErrorHook | undefined) {
    this.#exchange.onHandlerError = hook;
  }

  /** A new connection to this bus. `name` (default `conn-<n>`) appears in BusDelivery.from/to. */
  connect(name?: string): MemoryPubSub {
    this.#connections++;
    if (name !== undefined && (typeof name !== 'string' || name.length === 0)) {
      throw new InvalidOptionError('name', 'must be a non-empty string', name);
    }
    return new MemoryPubSub(this.#exchange, name ?? `conn-${this.#connections}`);
  }

  /** Installs (or with undefined removes) the hook consulted for every later delivery. */
  setFault(hook: FaultHook | undefined): void {
    this.#exchange.fault = hook;
  }

  /** Resolves once no message is queued, no delayed delivery and no afterInput task is pending. */
  idle(): Promise<void> {
    return this.#exchange.idle();
  }
}

type ConnectionState = 'open' | 'disconnected' | 'killed' | 'closed';

/**
 * One connection to a MemoryBus; obtain it from `MemoryBus.connect`.
 * Owns its subscriptions: close() and kill() end all of them.
 */
export class MemoryPubSub implements PubSub {
  readonly #exchange: MemoryExchange;
  readonly #subscriptions = new Set<MemorySubscription>();
  readonly #listeners = new Set<StatusListener>();
  #state: ConnectionState = 'open';
  /** Subscriptions the server forgot in an outage (see disconnect), subscribed again on reconnect(). */
  #forgotten = false;
  /** What was published while disconnected, sent on reconnect(). */
  #held: { subject: string; data: Uint8Array; headers: MessageHeaders | undefined }[] = [];
  /** Sequence number of the last message this connection queued, for flush(). */
  #lastSequence = 0;

  /** @internal Use MemoryBus.connect. */
  constructor(
    exchange: MemoryExchange,
    readonly name: string,
  ) {
    this.#exchange = exchange;
  }

  /**
   * Queues `data` for the subscribers of `subject`; a killed connection drops
   * it silently; a disconnected one holds it until reconnect(), as a NATS
   * client buffers what is published while it reconnects.
   */
  publish(subject: string, data: Uint8Array, headers?: MessageHeaders): void {
    this.#publish(subject, data, headers, undefined);
  }

  #publish(subject: string, data: Uint8Array, headers: MessageHeaders | undefined, onNoRoute: (() => void) | undefined): void {
    if (this.#state === 'closed') throw new ClosedError('pubsub');
    if (subject.length === 0) throw new TransportError('cannot publish on an empty subject');
    const limit = this.#exchange.maxPayload;
    if (limit !== undefined && data.length + headerBytes(headers) > limit) {
      throw new TransportError(`cannot publish on "${subject}": ${data.length + headerBytes(headers)} bytes exceed the max payload of ${limit}`);
    }
    if (this.#state === 'killed') {
      this.#exchange.stats.dropped++;
      return;
    }
    if (this.#state === 'disconnected') {
      this.#held.push({ subject, data, headers });
      return;
    }
    this.#lastSequence = this.#exchange.enqueue(subject, data, this.name, headers, onNoRoute);
  }

  /** The bus's maxPayload option. */
  maxPayload(): number | undefined {
    return this.#exchange.maxPayload;
  }

  /**
   * Publishes; `onNoResponders` runs when the message finds no subscriber on
   * delivery, as the NATS server decides it, once that drain's deliveries are
   * done (bus.idle() waits for it). Nothing is heard for a message held while
   * disconnected or dropped by a killed connection.
   */
  publishRequest(subject: string, data: Uint8Array, onNoResponders: () => void, headers?: MessageHeaders): () => void {
    let watching = true;
    this.#publish(subject, data, headers, () => watching && onNoResponders());
    return () => {
      watching = false;
    };
  }

  /** Exact: a killed or closed connection's subscriptions are gone at once. The probe is not sent. */
  hasSubscribers(subject: string): Promise<boolean | undefined> {
    return Promise.resolve(this.#state === 'open' ? this.#exchange.hasRoute(subject) : undefined);
  }

  subscribe(subject: string, options: SubscribeOptions, handler: PubSubHandler): Subscription {
    if (this.#state === 'closed') throw new ClosedError('pubsub');
    if (typeof subject !== 'string' || subject.length === 0) {
      throw new InvalidOptionError('subject', 'must be a non-empty string', subject);
    }
    const queue = options.queue === undefined || options.queue === '' ? undefined : options.queue;
    const subscription = new MemorySubscription(
      subject,
      queue,
      handler,
      this.name,
      this.#exchange,
      this.#subscriptions,
    );
    if (this.#state === 'killed') {
      // A crashed process subscribes nothing: the subscription is born ended.
      subscription.active = false;
    } else {
      this.#subscriptions.add(subscription);
      if (!this.#forgotten) this.#exchange.add(subscription);
    }
    return subscription;
  }

  /** Resolves once the messages this connection published so far have left the queue. */
  flush(): Promise<void> {
    if (this.#state === 'closed') return Promise.reject(new ClosedError('pubsub'));
    return this.#exchange.flushed(this.#lastSequence);
  }

  /** After the deliveries of the bus's current drain and their microtasks, as NATS's after a turn's reads. */
  afterInput(task: () => void): void {
    this.#exchange.afterInput(task);
  }

  onStatus(listener: StatusListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /**
   * Simulates a transport outage as the client sees it: status listeners hear
   * 'disconnected' then 'reconnecting', and publishes are held until
   * reconnect(). Subscriptions stay in place, unless `serverLost` (a server
   * restart, or the loss of the cluster server this client used): then the
   * bus routes nothing to them until reconnect() subscribes them again, as a
   * NATS client does on reconnecting. Only from the open state.
   */
  disconnect(options: { serverLost?: boolean } = {}): void {
    if (this.#state !== 'open') return;
    this.#state = 'disconnected';
    if (options.serverLost === true) {
      this.#forgotten = true;
      for (const subscription of this.#subscriptions) this.#exchange.remove(subscription);
    }
    this.#emit('disconnected');
    this.#emit('reconnecting');
  }

  /** Ends a simulated outage: sends what was held, in order, then emits 'reconnected'. */
  reconnect(): void {
    if (this.#state !== 'disconnected') return;
    this.#state = 'open';
    if (this.#forgotten) {
      this.#forgotten = false;
      for (const subscription of this.#subscriptions) this.#exchange.add(subscription);
    }
    const held = this.#held;
    this.#held = [];
    for (const { subject, data, headers } of held) this.publish(subject, data, headers);
    this.#emit('reconnected');
  }

  /**
   * Simulates a crash seen by the server: the subscriptions vanish (queue
   * groups carry on with the other members), later publishes are dropped, and
   * nobody is told. Messages already queued by this connection are still
   * delivered, as a server would. close() still works afterwards.
   */
  kill(): void {
    if (this.#state !== 'open' && this.#state !== 'disconnected') return;
    this.#held = [];
    this.#state = 'killed';
    this.#endSubscriptions();
  }

  /** Ends every subscription and emits 'closed' once. Queued messages are still delivered. */
  close(): Promise<void> {
    if (this.#state === 'closed') return Promise.resolve();
    this.#state = 'closed';
    this.#endSubscriptions();
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    for (const listener of listeners) listener('closed');
    return Promise.resolve();
  }

  #emit(status: PubSubStatus): void {
    for (const listener of [...this.#listeners]) listener(status);
  }

  #endSubscriptions(): void {
    for (const subscription of [...this.#subscriptions]) subscription.unsubscribe();
  }
}

