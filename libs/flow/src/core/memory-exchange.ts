import type { Clock } from './clock';
import { MemoryRoutes, takeTurn } from './memory-routes';
import type { MessageHeaders, PubSubHandler, Subscription } from './pubsub';

/** One message on its way to one subscriber, as fault and error hooks see it. */
export interface BusDelivery {
  readonly subject: string;
  /** Shared with the other receivers of the message: read-only. */
  readonly data: Uint8Array;
  /** Name of the publishing connection. */
  readonly from: string;
  /** Name of the receiving connection. */
  readonly to: string;
  /** Queue group of the receiving subscription, if any. */
  readonly queue?: string;
  /** The message's headers, if it has any; shared, read-only. */
  readonly headers?: MessageHeaders;
}

/** What happens to one delivery: as usual, lost, or handed over `delayMs` later. */
export type FaultDecision = 'deliver' | 'drop' | { delayMs: number };

/** Decides the fate of each delivery while set. Runs inside the drain: it must not throw. */
export type FaultHook = (delivery: BusDelivery) => FaultDecision;

/** Receives what a subscription handler threw. Must not throw itself. */
export type HandlerErrorHook = (error: unknown, delivery: BusDelivery) => void;

export interface MemoryBusStats {
  /** Messages accepted by publish() on live connections. */
  published: number;
  /** Handler invocations, including those that threw. */
  delivered: number;
  /** Deliveries the fault hook dropped, plus messages published by killed connections. */
  dropped: number;
  /** Handler invocations that threw. */
  handlerErrors: number;
}

/**
 * Deliveries per drain callback. Yielding to the event loop between batches
 * lets timers (ack timeouts, delayed deliveries) and I/O run during long
 * bursts, while one setImmediate per batch keeps the per-message cost low.
 */
const DRAIN_BATCH = 1024;

/** @internal A subscription of a MemoryPubSub; not exported from the package index. */
export class MemorySubscription implements Subscription {
  /** False once unsubscribed: checked before each delivery, so it stops mid-drain. */
  active = true;
  readonly #exchange: MemoryExchange;
  readonly #owner: Set<MemorySubscription>;

  constructor(
    readonly subject: string,
    readonly queue: string | undefined,
    readonly handler: PubSubHandler,
    /** Name of the owning connection. */
    readonly to: string,
    exchange: MemoryExchange,
    /** The owning connection's live subscriptions; unsubscribe() leaves it. */
    owner: Set<MemorySubscription>,
  ) {
    this.#exchange = exchange;
    this.#owner = owner;
  }

  unsubscribe(): void {
    if (!this.active) return;
    this.active = false;
    this.#exchange.remove(this);
    this.#owner.delete(this);
  }
}

/**
 * @internal The delivery queue behind one MemoryBus, over its routes
 * (memory-routes.ts); not exported from the package index.
 */
export class MemoryExchange {
  readonly stats: MemoryBusStats = { published: 0, delivered: 0, dropped: 0, handlerErrors: 0 };
  fault: FaultHook | undefined;
  onHandlerError: HandlerErrorHook | undefined;
  /** MemoryBusOptions.maxPayload. */
  maxPayload: number | undefined;
  /** MemoryBusOptions.clock. */
  clock: Clock | undefined;

  readonly #routes = new MemoryRoutes();
  // The FIFO as parallel arrays: no object allocated per queued message.
  readonly #subjects: string[] = [];
  readonly #payloads: (Uint8Array | undefined)[] = [];
  readonly #senders: string[] = [];
  /** Headers by message sequence number; empty (no slot per message) while nobody sends headers. */
  readonly #headers = new Map<number, MessageHeaders>();
  /** No-responders callbacks by message sequence number (publishRequest), run when the message finds no subscriber. */
  readonly #noRoute = new Map<number, () => void>();
  #head = 0;
  #enqueued = 0;
  #dispatched = 0;
  #delayed = 0;
  #scheduled = false;
  #flushWaiters: { sequence: number; resolve: () => void }[] = [];
  /** PubSub.afterInput tasks, run together once the current drain's deliveries and their microtasks are done. */
  #afterInput: (() => void)[] = [];
  #idleWaiters: (() => void)[] = [];

  /** Queues a message and returns its sequence number. */
  enqueue(subject: string, data: Uint8Array, from: string, headers?: MessageHeaders, onNoRoute?: () => void): number {
    if (headers !== undefined) this.#headers.set(this.#enqueued + 1, headers);
    if (onNoRoute !== undefined) this.#noRoute.set(this.#enqueued + 1, onNoRoute);
    this.#subjects.push(subject);
    this.#payloads.push(data);
    this.#senders.push(from);
    this.stats.published++;
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#drain);
    }
    return ++this.#enqueued;
  }

  add(subscription: MemorySubscription): void {
    this.#routes.add(subscription);
  }

  remove(subscription: MemorySubscription): void {
    this.#routes.remove(subscription);
  }

  /** True when `subject` has at least one live subscription. */
  hasRoute(subject: string): boolean {
    return this.#routes.has(subject);
  }

  flushed(sequence: number): Promise<void> {
    if (sequence <= this.#dispatched) return Promise.resolve();
    return new Promise((resolve) => this.#flushWaiters.push({ sequence, resolve }));
  }

  /** Runs `task` after the deliveries of the current drain (and their microtasks), before the next drain. */
  afterInput(task: () => void): void {
    this.#afterInput.push(task);
    if (this.#afterInput.length === 1) setImmediate(this.#runAfterInput);
  }

  readonly #runAfterInput = (): void => {
    const tasks = this.#afterInput;
    this.#afterInput = [];
    // A task that throws surfaces as on NATS (uncaught in setImmediate); idle waiters still hear of the end.
    try {
      for (const task of tasks) task();
    } finally {
      this.#settle();
    }
  };

  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  readonly #drain = (): void => {
    this.#scheduled = false;
    const end = Math.min(this.#subjects.length, this.#head + DRAIN_BATCH);
    while (this.#head < end) {
      const i = this.#head++;
      const data = this.#payloads[i] as Uint8Array;
      this.#payloads[i] = undefined;
      this.#dispatched++;
      let headers: MessageHeaders | undefined;
      if (this.#headers.size > 0) {
        headers = this.#headers.get(this.#dispatched);
        this.#headers.delete(this.#dispatched);
      }
      const routed = this.#dispatch(this.#subjects[i], data, this.#senders[i], headers);
      if (this.#noRoute.size > 0) {
        const onNoRoute = this.#noRoute.get(this.#dispatched);
        this.#noRoute.delete(this.#dispatched);
        // Decided on delivery, as the NATS server does; heard once this drain's deliveries are done.
        if (onNoRoute !== undefined && !routed) this.afterInput(onNoRoute);
      }
    }
    this.#compact();
    if (this.#head < this.#subjects.length && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#drain);
    }
    this.#settle();
  };

  /** Offers the message to its subscribers; false when it had none (a fault hook's drop still counts as one). */
  #dispatch(subject: string, data: Uint8Array, from: string, headers: MessageHeaders | undefined): boolean {
    const route = this.#routes.get(subject);
    if (route === undefined) return false;
    let routed = false;
    const plain = route.plain;
    for (let i = 0; i < plain.length; i++) {
      if (plain[i].active) {
        routed = true;
        this.#offer(plain[i], subject, data, from, headers);
      }
    }
    const groups = route.groups;
    for (let i = 0; i < groups.length; i++) {
      const member = takeTurn(groups[i]);
      if (member !== undefined && member.active) {
        routed = true;
        this.#offer(member, subject, data, from, headers);
      }
    }
    return routed;
  }

  #offer(
    subscription: MemorySubscription,
    subject: string,
    data: Uint8Array,
    from: string,
    headers: MessageHeaders | undefined,
  ): void {
    if (this.fault === undefined) {
      this.#deliver(subscription, subject, data, from, headers);
      return;
    }
    const delivery: BusDelivery = { subject, data, from, to: subscription.to, queue: subscription.queue, headers };
    const decision = this.fault(delivery);
    if (decision === 'deliver') {
      this.#deliver(subscription, subject, data, from, headers);
    } else if (decision === 'drop') {
      this.stats.dropped++;
    } else {
      this.#delay(subscription, delivery, decision.delayMs);
    }
  }

  /** On `clock`, a delayed delivery is that clock's timer: idle() does not wait for it (a manual clock moves only between waits). */
  #delay(subscription: MemorySubscription, delivery: BusDelivery, ms: number): void {
    if (this.clock !== undefined) {
      this.clock.setTimeout(() => this.#deliverLate(subscription, delivery, false), ms);
      return;
    }
    this.#delayed++;
    setTimeout(this.#deliverLate, ms, subscription, delivery, true);
  }

  readonly #deliverLate = (subscription: MemorySubscription, delivery: BusDelivery, counted: boolean): void => {
    if (counted) this.#delayed--;
    if (subscription.active) {
      this.#deliver(subscription, delivery.subject, delivery.data, delivery.from, delivery.headers);
    }
    this.#settle();
  };

  #deliver(
    subscription: MemorySubscription,
    subject: string,
    data: Uint8Array,
    from: string,
    headers: MessageHeaders | undefined,
  ): void {
    this.stats.delivered++;
    try {
      subscription.handler(subject, data, headers);
    } catch (error) {
      this.stats.handlerErrors++;
      this.onHandlerError?.(error, { subject, data, from, to: subscription.to, queue: subscription.queue, headers });
    }
  }

  /** Drops consumed slots: all of them when the queue ran dry, else once they are the majority. */
  #compact(): void {
    const length = this.#subjects.length;
    if (this.#head === length) {
      this.#subjects.length = 0;
      this.#payloads.length = 0;
      this.#senders.length = 0;
      this.#head = 0;
    } else if (this.#head >= DRAIN_BATCH && this.#head * 2 >= length) {
      this.#subjects.splice(0, this.#head);
      this.#payloads.splice(0, this.#head);
      this.#senders.splice(0, this.#head);
      this.#head = 0;
    }
  }

  #isIdle(): boolean {
    return this.#head === this.#subjects.length && this.#delayed === 0 && this.#afterInput.length === 0;
  }

  #settle(): void {
    if (this.#flushWaiters.length > 0) {
      const dispatched = this.#dispatched;
      const due = this.#flushWaiters.filter((w) => w.sequence <= dispatched);
      if (due.length > 0) {
        this.#flushWaiters = this.#flushWaiters.filter((w) => w.sequence > dispatched);
        for (const waiter of due) waiter.resolve();
      }
    }
    if (this.#idleWaiters.length > 0 && this.#isIdle()) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}
