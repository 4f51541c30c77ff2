import type { MessageHeaders, PubSub, PubSubHandler, StatusListener, SubscribeOptions, Subscription } from '../../src/core/pubsub';
import type { MemoryPubSub } from '../../src/core/memory-pubsub';
import type { ManualClock } from '../../src/testing/manual-clock';

/** Decides, per delivery to this connection, how many virtual ms it is held back (0: at once). */
export type DelayPolicy = (subject: string) => number;

/**
 * A broker's connection in the simulation: a MemoryPubSub whose incoming
 * deliveries may be held back on the ManualClock, so that frames are
 * reordered in virtual time. (MemoryBus's own fault hook delays with a real
 * setTimeout, which no seed can reproduce; drops do go through that hook.)
 * A held-back delivery is skipped when its subscription has ended by then.
 */
export class SimConnection implements PubSub {
  private live = true;

  constructor(
    readonly inner: MemoryPubSub,
    private readonly clock: ManualClock,
    private readonly delay: DelayPolicy,
  ) {}

  publish(subject: string, data: Uint8Array, headers?: MessageHeaders): void {
    this.inner.publish(subject, data, headers);
  }

  /** NATS's no-responders: from the bus, when the message finds no subscriber on delivery. */
  publishRequest(subject: string, data: Uint8Array, onNoResponders: () => void, headers?: MessageHeaders): () => void {
    return this.inner.publishRequest(subject, data, onNoResponders, headers);
  }

  /**
   * drain() models NATS's: no new deliveries, but those already on their way
   * (held back) still run; it resolves once they have.
   */
  subscribe(subject: string, options: SubscribeOptions, handler: PubSubHandler): Subscription {
    let active = true;
    let held = 0;
    let drained: (() => void) | undefined;
    const delayed: PubSubHandler = (s, data, headers) => {
      const ms = this.delay(s);
      if (ms <= 0) return handler(s, data, headers);
      held++;
      this.clock.setTimeout(() => {
        held--;
        if (active && this.live) handler(s, data, headers);
        if (held === 0) drained?.();
      }, ms);
    };
    const inner = this.inner.subscribe(subject, options, delayed);
    return {
      subject,
      unsubscribe: () => {
        active = false;
        inner.unsubscribe();
      },
      drain: () => {
        inner.unsubscribe();
        return held === 0 ? Promise.resolve() : new Promise<void>((resolve) => (drained = resolve));
      },
    };
  }

  /** Ends every delayed delivery too: a crashed process receives nothing more. */
  kill(): void {
    this.live = false;
    this.inner.kill();
  }

  flush(): Promise<void> {
    return this.inner.flush();
  }

  afterInput(task: () => void): void {
    this.inner.afterInput(task);
  }

  hasSubscribers(subject: string): Promise<boolean | undefined> {
    return this.inner.hasSubscribers(subject);
  }

  onStatus(listener: StatusListener): () => void {
    return this.inner.onStatus(listener);
  }

  close(): Promise<void> {
    this.live = false;
    return this.inner.close();
  }
}
