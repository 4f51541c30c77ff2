import type { Dispatcher } from './dispatcher';
import { TransportError } from './errors';
import type { Handoff } from './handoff';
import type { PubSubStatus } from './pubsub';

/**
 * One owner per key across an outage of this broker's connection (docs/PROTOCOL.md,
 * "Reconnecting"). While it is down, the other members may find this broker
 * dead (on NATS at once: its node subject has no responders) and run its keys,
 * and a joiner may take some of them. So from 'disconnected' (or
 * 'reconnecting') no handler starts here: messages wait in their lanes, and
 * the ones already running finish. On 'reconnected' the broker takes back
 * what waited and takes its ranges back as a joiner does (Handoff.rejoined):
 * what waited is held like any message of a range being handed over, or
 * forwarded to the member that owns its key now.
 */
export class ReconnectFence {
  private down = false;

  constructor(
    private readonly dispatcher: Pick<Dispatcher, 'pause' | 'resume' | 'takeWaiting'>,
    private readonly handoff: Pick<Handoff, 'rejoined'>,
  ) {}

  onStatus(status: PubSubStatus): void {
    if (status === 'disconnected' || status === 'reconnecting') {
      this.down = true;
      this.dispatcher.pause();
    } else if (status === 'reconnected' && this.down) {
      this.down = false;
      const waiting = this.dispatcher.takeWaiting(new TransportError('not run here: the connection dropped while it waited; routed again once reconnected'));
      this.dispatcher.resume();
      this.handoff.rejoined(waiting);
    }
  }
}
