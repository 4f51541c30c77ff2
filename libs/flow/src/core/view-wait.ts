import { FlowError, OverloadedError } from './errors';
import { Fifo } from './fifo';
import type { MsgPayload } from './frame';
import type { Early, PublisherHost } from './publisher-host';

/**
 * Keyed publishes made while a publisher-only broker awaits its first view
 * answer (ring-view.ts): kept in order, at most `maxQueuedMessages`, and sent
 * (`send`: direct if the view allows, else the queue group) when the view is
 * answered or no longer awaited, at most an ackTimeout (a few, see RingView).
 * Once any is kept, later keyed publishes queue behind it until they all go,
 * so order holds.
 */
export class ViewWait {
  private kept = new Fifo<Early>();

  constructor(
    private readonly host: Pick<PublisherHost, 'options' | 'viewAwaited' | 'whenViewSettled'>,
    private readonly send: (msg: MsgPayload, ack: boolean) => Promise<void>,
    private readonly emptied: () => void,
  ) {}

  get length(): number {
    return this.kept.length;
  }

  /** Whether a keyed publish must be kept now. */
  get applies(): boolean {
    return this.kept.length > 0 || this.host.viewAwaited();
  }

  keep(msg: MsgPayload, ack: boolean): Promise<void> {
    const { maxQueuedMessages } = this.host.options;
    if (this.kept.length >= maxQueuedMessages) {
      return Promise.reject(new OverloadedError('maxQueuedMessages (publishes waiting for the ring view)', maxQueuedMessages));
    }
    // After the turn that settled the view: a close in that turn (the view stops first) rejects them instead.
    if (this.kept.length === 0) this.host.whenViewSettled(() => void Promise.resolve().then(() => this.settled()));
    return new Promise((resolve, reject) => this.kept.push({ msg, ack, resolve, reject }));
  }

  failAll(error: FlowError): void {
    for (let e = this.kept.shift(); e !== undefined; e = this.kept.shift()) e.reject(error);
  }

  private settled(): void {
    const kept = this.kept;
    this.kept = new Fifo();
    for (let e = kept.shift(); e !== undefined; e = kept.shift()) this.send(e.msg, e.ack).then(e.resolve, e.reject);
    this.emptied();
  }
}
