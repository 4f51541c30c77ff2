import type { PubSubStatus } from './pubsub';

/** Which lanes' handlers must not start (PartitionScheduler.block); undefined: none. */
export type LaneBlock = ((lane: number | undefined) => boolean) | undefined;

/** What the fence needs from its broker. */
export interface ReconnectFenceHost {
  /** Starts no handler of a blocked lane (Dispatcher.block); running ones finish. */
  block(isBlocked: LaneBlock): void;
  /** Takes the broker's ranges back from whoever ran them meanwhile (Handoff.rejoined), telling `block` what must wait. */
  rejoin(block: (isBlocked: LaneBlock) => void): void;
}

const EVERY_LANE = (): boolean => true;

/**
 * One owner per key across an outage of this broker's connection (docs/PROTOCOL.md,
 * "Reconnecting"). While it is down, the other members may find this broker
 * dead (on NATS at once: its node subject has no responders) and run its keys.
 * So from 'disconnected' (or 'reconnecting') no handler starts here; messages
 * queue in their lanes, and the ones already running finish. After
 * 'reconnected' the broker takes its ranges back as a joiner does
 * (Handoff.rejoined): what queued here starts once the previous owners
 * released the ranges, lane by lane as they drain what they ran there. A
 * second outage before that starts over.
 */
export class ReconnectFence {
  /** Counts outages: what a rejoin says after the next outage began is not heard. */
  private outage = 0;
  private down = false;

  constructor(private readonly host: ReconnectFenceHost) {}

  onStatus(status: PubSubStatus): void {
    if (status === 'disconnected' || status === 'reconnecting') {
      if (!this.down) this.outage++;
      this.down = true;
      this.host.block(EVERY_LANE);
    } else if (status === 'reconnected' && this.down) {
      this.down = false;
      const outage = this.outage;
      this.host.rejoin((isBlocked) => {
        if (outage === this.outage && !this.down) this.host.block(isBlocked);
      });
    }
  }
}
