import { headers as natsHeaders } from 'nats';
import { ClosedError, type FlowError, InvalidOptionError, TimeoutError, TransportError } from '../core/errors';
import { IdTable } from '../core/id-table';
import { randomFillSync } from '../core/random';
import type { MessageHeaders, PubSubHandler, PubSub, StatusListener, SubscribeOptions, Subscription } from '../core/pubsub';
import { isClosedConnectionError, isNoRespondersError, isTimeoutError, reasonOf } from './client-errors';
import {
  isNatsConnectionLike,
  type NatsConnectionLike,
  type NatsHeadersLike,
  type NatsMsgCallback,
  type NatsMsgLike,
  type NatsSubscriptionLike,
} from './nats-connection';
import { resolveNatsPubSubOptions, type NatsPubSubOptions, type ResolvedNatsPubSubOptions } from './nats-options';
import { ConnectionStatus, type Refusal } from './nats-status';
import { PublishRefusals } from './publish-refusals';
import { attempt, firstRejection, NatsSubscription, settleWithin } from './nats-subscription';

const ADAPTER = 'NATS pub/sub';
const CONNECTION = 'NATS connection';

/**
 * PubSub over a NATS connection (`nats` v2 or `@nats-io/transport-node` v3).
 *
 * Contracts:
 * - Handlers run inside the client's callback, one message at a time per
 *   subscription. An exception from a handler goes to `onError` with the
 *   subject and never reaches the client, so later messages keep coming.
 * - `close()` drains this adapter's subscriptions (messages already received
 *   are handled), and for an owned connection drains and closes the connection
 *   too. It is bounded by `drainTimeoutMs`, always resolves, and returns the
 *   same promise when called again.
 * - Status listeners hear 'disconnected', 'reconnecting' (once per attempt),
 *   'reconnected', and 'closed' exactly once: when this adapter closes or its
 *   connection closes, whichever comes first. Nothing is reported after it.
 * - A publish the server refuses (permissions violation) is told to the
 *   requests on that subject that asked (publishRequest's `onRefused`); one
 *   nobody asked about goes to `onError`, naming the subject: the first of
 *   each subject at once, later ones as one summary per 10 s with their
 *   number. A refused subscription is reported by that subscription alone.
 */
export class NatsPubSub implements PubSub {
  private readonly subscriptions = new Set<NatsSubscription>();
  private readonly status: ConnectionStatus;
  private closing = false;
  /**
   * Requests awaiting a possible "no responders", by reply token (see
   * publishRequest); an IdTable, as a Map would churn with a token per request.
   */
  private readonly noResponders = new IdTable<() => void, number>();
  /** Refused publishes: the requests that asked to hear it (publishRequest's `onRefused`), and the reports. */
  private readonly refusals = new PublishRefusals((error, subject) => this.report(error, subject));
  private inbox: string | undefined;
  private lastToken = 0;
  private closePromise: Promise<void> | undefined;

  /**
   * Wraps a connection the caller created. Unless `owned` is true, close()
   * leaves the connection open for its other users.
   */
  static fromConnection(connection: NatsConnectionLike, options?: NatsPubSubOptions): NatsPubSub {
    if (!isNatsConnectionLike(connection)) {
      throw new InvalidOptionError(
        'connection',
        'must be a NATS connection with publish, subscribe, flush, drain, close, closed, isClosed and status',
        typeof connection,
      );
    }
    return new NatsPubSub(connection, resolveNatsPubSubOptions(options));
  }

  private constructor(
    private readonly nc: NatsConnectionLike,
    private readonly options: ResolvedNatsPubSubOptions,
  ) {
    // Subscribed before anything can happen: a status iterator only sees later events.
    this.status = new ConnectionStatus(
      nc.status(),
      (error) => this.report(error),
      (refusal, cause) => this.onRefusal(refusal, cause),
    );
    void this.status.watch();
    void nc.closed().then(
      (error) => {
        if (error instanceof Error) {
          this.report(new TransportError(`${CONNECTION} closed: ${reasonOf(error)}`, { cause: error }));
        }
        this.status.closed(error ?? undefined);
      },
      (error: unknown) => this.report(error),
    );
  }

  /** The connection underneath, for callers that need the client's own API. */
  get connection(): NatsConnectionLike {
    return this.nc;
  }

  publish(subject: string, data: Uint8Array, headers?: MessageHeaders): void {
    if (this.closing) throw new ClosedError(ADAPTER);
    try {
      if (headers === undefined) this.nc.publish(subject, data);
      else this.nc.publish(subject, data, { headers: toNatsHeaders(headers) });
    } catch (error) {
      throw this.failure(`cannot publish on "${subject}"`, error);
    }
  }

  /**
   * Publishes with a NATS reply subject of this adapter's own inbox
   * (`_INBOX.<random>.<token>`, one wildcard subscription for all): when
   * nothing subscribes to `subject`, the server answers there with a 503
   * status at once (no-responders, on by default with servers that support
   * headers) and `onNoResponders` runs. Flow brokers, like Go ones, reply on
   * the requester's node subject and ignore the NATS reply subject, so a
   * served request leaves the token for the returned function to remove.
   */
  publishRequest(
    subject: string,
    data: Uint8Array,
    onNoResponders: () => void,
    headers?: MessageHeaders,
    onRefused?: (error: FlowError) => void,
  ): () => void {
    if (this.closing) throw new ClosedError(ADAPTER);
    const inbox = (this.inbox ??= this.openInbox());
    const token = ++this.lastToken;
    try {
      const reply = `${inbox}.${token}`;
      this.nc.publish(subject, data, headers === undefined ? { reply } : { reply, headers: toNatsHeaders(headers) });
    } catch (error) {
      throw this.failure(`cannot publish on "${subject}"`, error);
    }
    this.noResponders.set(token, onNoResponders);
    if (onRefused !== undefined) this.refusals.watch(subject, token, onRefused);
    return () => {
      this.noResponders.delete(token);
      this.refusals.forget(token);
    };
  }

  /**
   * The server refused a publish or a subscription. A refused subscription
   * was told through its own callback already (nats.js), which reports it. A
   * refused publish fails the requests on its subject that asked (nobody got
   * them), or else goes to onError (PublishRefusals).
   */
  private onRefusal(refusal: Refusal, cause: unknown): void {
    if (refusal.operation === 'subscription') return;
    this.refusals.refused(refusal.subject, cause, (token) => this.noResponders.delete(token));
  }

  /**
   * A subject without wildcards is passed to `handler` as given: every message
   * it receives has exactly that subject, and the client decodes a message's
   * subject bytes anew on each read of `msg.subject`.
   */
  subscribe(subject: string, options: SubscribeOptions, handler: PubSubHandler): Subscription {
    const literal = isLiteralSubject(subject);
    return this.subscribeRaw(subject, options, (msg) => {
      const headers = msg.headers;
      const received = literal ? subject : msg.subject;
      const data = plainBytes(msg.data);
      if (headers === undefined) handler(received, data);
      else handler(received, data, fromNatsHeaders(headers));
    });
  }

  private subscribeRaw(subject: string, options: SubscribeOptions, handler: (msg: NatsMsgLike) => void): Subscription {
    if (this.closing) throw new ClosedError(ADAPTER);
    const callback: NatsMsgCallback = (error, msg) => {
      if (error !== null) {
        this.report(new TransportError(`subscription on "${subject}" failed: ${reasonOf(error)}`, { cause: error }), subject);
        return;
      }
      try {
        handler(msg);
      } catch (handlerError) {
        this.report(handlerError, msg.subject);
      }
    };
    let sub: NatsSubscriptionLike;
    try {
      sub = this.nc.subscribe(subject, options.queue === undefined ? { callback } : { queue: options.queue, callback });
    } catch (error) {
      throw this.failure(`cannot subscribe to "${subject}"`, error);
    }
    const subscription = new NatsSubscription(subject, sub, this.subscriptions);
    this.subscriptions.add(subscription);
    return subscription;
  }

  async flush(): Promise<void> {
    if (this.closing) throw new ClosedError(ADAPTER);
    try {
      await this.nc.flush();
    } catch (error) {
      throw this.failure('cannot flush', error);
    }
  }

  /**
   * A NATS request to `subject`: the server answers "no responders" at once
   * when nothing subscribes to it (a crashed broker's subscriptions vanish
   * with its connection), so a rejection saying so means false. Our brokers
   * never answer on NATS reply subjects, so a live subscriber lets the
   * request time out: true. Anything else: undefined (cannot tell).
   */
  async hasSubscribers(subject: string, probe: Uint8Array, timeoutMs: number): Promise<boolean | undefined> {
    if (this.closing || typeof this.nc.request !== 'function') return undefined;
    try {
      await this.nc.request(subject, probe, { timeout: timeoutMs });
      return true;
    } catch (error) {
      if (isNoRespondersError(error)) return false;
      if (isTimeoutError(error)) return true;
      return undefined;
    }
  }

  /** Each NATS message costs parsing and routing in both clients and the server: brokers batch their direct FWDs. */
  readonly prefersBatches = true;

  /** The server's max_payload, from what it said at (re)connection. */
  maxPayload(): number | undefined {
    const limit = this.nc.info?.max_payload;
    return typeof limit === 'number' && limit > 0 ? limit : undefined;
  }

  /**
   * nats.js hands over every message of one socket read synchronously, and
   * several reads can be ready in one turn: `task` runs in the check phase
   * (setImmediate), after all of them, and before the next turn's reads.
   */
  afterInput(task: () => void): void {
    setImmediate(task);
  }

  onStatus(listener: StatusListener): () => void {
    return this.status.listen(listener);
  }

  close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    return this.closePromise;
  }

  private openInbox(): string {
    const bytes = new Uint8Array(12);
    randomFillSync(bytes);
    const inbox = `_INBOX.${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
    this.subscribeRaw(`${inbox}.*`, {}, (msg) => {
      if (msg.data.length !== 0 || msg.headers?.code !== 503) return;
      const token = Number(msg.subject.slice(inbox.length + 1));
      const onNoResponders = this.noResponders.get(token);
      if (onNoResponders === undefined) return;
      this.noResponders.delete(token);
      this.refusals.forget(token);
      onNoResponders();
    });
    return inbox;
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    const subscriptions = [...this.subscriptions];
    this.subscriptions.clear();
    const drained = this.options.owned
      ? attempt(() => this.nc.drain())
      : Promise.allSettled(subscriptions.map((s) => attempt(() => s.drain()))).then(firstRejection);
    const outcome = await settleWithin(drained, this.options.drainTimeoutMs);
    if (outcome !== 'drained') {
      if (outcome === 'timeout') {
        this.report(new TimeoutError(`draining the ${ADAPTER}`, this.options.drainTimeoutMs));
      } else if (!isClosedConnectionError(outcome.error) && !this.nc.isClosed()) {
        this.report(new TransportError(`cannot drain the ${ADAPTER}: ${reasonOf(outcome.error)}`, { cause: outcome.error }));
      }
      if (!this.options.owned) for (const subscription of subscriptions) subscription.stop();
    }
    // nats v2's drain resolves without closing when its final flush fails (server down).
    if (this.options.owned && !this.nc.isClosed()) await attempt(() => this.nc.close()).catch(() => undefined);
    this.status.stop();
    this.status.closed(undefined);
    this.refusals.stop();
  }

  private report(error: unknown, subject?: string): void {
    try {
      this.options.onError(error, subject);
    } catch {
      // onError must not throw; there is no one left to tell.
    }
  }

  private failure(what: string, error: unknown): Error {
    if (isClosedConnectionError(error) || this.nc.isClosed()) return new ClosedError(CONNECTION);
    return new TransportError(`${what}: ${reasonOf(error)}`, { cause: error });
  }
}

function toNatsHeaders(headers: MessageHeaders): NatsHeadersLike {
  const out = natsHeaders();
  for (const key of Object.keys(headers)) out.set(key, headers[key]);
  return out;
}

/** First value of each header; multi-valued headers are not part of Flow's use. */
function fromNatsHeaders(headers: NatsHeadersLike): MessageHeaders | undefined {
  const keys = headers.keys();
  if (keys.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const key of keys) out[key] = headers.get(key);
  return out;
}

/** True when `subject` has no wildcard token (`*` or `>`): it matches itself only. */
function isLiteralSubject(subject: string): boolean {
  return !subject.split('.').some((token) => token === '*' || token === '>');
}

/**
 * The client's bytes as a plain Uint8Array view, no copy. nats.js hands over
 * Buffers (v2 and v3 alike), the embedded transport plain arrays: handlers and
 * deserializers see the same type on both (a raw handler's `data.toString()`
 * does not turn into text only in production), and the views Flow cuts from a
 * message (payload, partition key, each frame of a batch) are the typed
 * array's own `subarray`, cheaper than Buffer's.
 */
function plainBytes(data: Uint8Array): Uint8Array {
  return data.constructor === Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
