import type { U64 } from './bytes';
import { ErrorCode, FlowError, TimeoutError } from './errors';
import type { MsgPayload } from './frame';
import type { Forward, ForwarderHost } from './forwarder-host';
import type { Key } from './key';
import type { OwnerSigns } from './owner-signs';
import type { PendingTable } from './pending';

/** How many ackTimeouts a forward may wait in all while its owner keeps acknowledging others. */
export const ACK_PATIENCE = 8;

/** What overdue forwards need from their forwarder. */
export interface OverdueHost {
  readonly host: ForwarderHost;
  readonly pending: PendingTable<boolean, Forward>;
  readonly signs: OwnerSigns;
  /** The id of a notice forward routed again, by message: the forwarder sends it under that id. */
  readonly retryIds: WeakMap<MsgPayload, U64>;
  /** Keeps `entry` pending for another ackTimeout; false when it could not (the message is dropped). */
  awaitAck(entry: Forward): boolean;
  /** Sends `entry`'s FWD to its owner. */
  send(entry: Forward): void;
  /** `owner` is proven gone: every forward waiting on it gives up (giveUp, proven), the first sent first. */
  ownerGone(owner: Key): void;
}

/**
 * Forwards whose answer is an ackTimeout late (forwarder.ts): the pending
 * table's timeout hands them here, so none of this runs for a forward
 * answered in time.
 *
 * One deviation from Go flow, against false suspicion: a missing ACK is not
 * proof of death, since under a backlog the ACK queues behind other traffic,
 * and suspecting a healthy owner splits its keys. After an ackTimeout
 * without the ACK the forward keeps waiting, up to ACK_PATIENCE
 * ackTimeouts in all, while the owner shows signs of life: ACKs for other
 * forwards, or answers to liveness probes. An owner proven dead (no
 * responders, or silent probes; liveness.ts) is suspected at once, as in Go
 * flow; one that answered probes lately is not suspected for a lost frame:
 * the forward is routed again instead.
 *
 * A forward with notices that its owner accepted waits as long as its owner
 * speaks, and is sent again (answered from the owner's duplicate window)
 * after ACK_PATIENCE ackTimeouts or when its silent owner answers a probe.
 * One not accepted yet is sent again every ackTimeout while its owner answers
 * other forwards (a Flow owner answers "accepted" on receipt, so the frame or
 * the notice was lost), and given up on after ACK_PATIENCE ackTimeouts as
 * before. When only a probe says the owner is alive, a copy goes only if the
 * owner sent a JOIN after the forward went out (a broker restarted there and
 * never saw it; seeds 56140, 65900): between a leaving broker and a member
 * that missed its LEAV, forwards bounce as relays under new ids, and copies
 * of each on any "alive" would run once the member learns (seed 52981).
 */
export class OverdueForwards {
  /**
   * Settle reasons that never leave the forwarder, built once: under a backlog
   * many forwards go overdue at once, and an Error's stack trace is costly.
   */
  readonly overdue: TimeoutError;
  readonly ownerGone = new TimeoutError('forward (owner gone)', 0);

  constructor(private readonly forwarder: OverdueHost) {
    this.overdue = new TimeoutError('forward', forwarder.host.options.ackTimeout);
  }

  /** The answer is an ackTimeout late: keep waiting while the owner looks alive. */
  onOverdue(entry: Forward): void {
    const { host, signs } = this.forwarder;
    const { ackTimeout, clock } = host.options;
    const { owner } = entry;
    const waited = clock.now() - entry.since;
    const patient = waited < ACK_PATIENCE * ackTimeout;
    if (!entry.accepted && !patient) return this.giveUp(entry, false);
    // Keep the forward pending while the owner speaks or a probe runs, so an answer on the way still counts.
    if (!this.forwarder.awaitAck(entry)) return;
    if (signs.heardWithin(owner, ackTimeout)) {
      // Accepted, long since: the handled notice may be lost; the owner answers a copy from its window.
      if (!patient) this.sendAgain(entry);
      // Not accepted while the owner answers others: this FWD or its notice was lost, as a Flow owner
      // answers "accepted" on receipt, backlog or not. A copy now, not after ACK_PATIENCE ackTimeouts:
      // a relay's publisher waits as long and would take the relaying broker for dead (seed 1477).
      else if (entry.notices && !entry.accepted) this.resend(entry);
      return;
    }
    signs
      .probe(owner)
      .then((verdict) => {
        if (!entry.pending) return;
        if (verdict === 'dead') this.forwarder.ownerGone(owner);
        else if (entry.accepted) this.sendAgain(entry);
        // Its owner restarted after it was sent (a JOIN since): the new instance never saw it (seeds 56140,
        // 65900). Only then: a copy on any "alive" revives a relay loop (seed 52981).
        else if (entry.notices && signs.joinedSince(owner, entry.since)) this.resend(entry);
      })
      .catch((error: unknown) => host.contain(error, 'forward probe'));
  }

  /**
   * At-least-once inside the clique for a message: the owner may have handled
   * it and lost only the ACK. At most once for a request, as for one sent
   * direct: once sent it goes nowhere else, since its owner may have run it
   * (its reply may be on the way); its requester is told FLOW_OWNER_LOST when
   * that owner is gone (proven, or silent and suspected), else FLOW_TIMEOUT,
   * "may or may not have run". Seeds 1313 and 1412 with requests: the owner's
   * ACK of the forward was dropped, and after ACK_PATIENCE the request went
   * again to the live owner, which ran it twice; seed 7574: the same, and the
   * owner then left, proven gone, and the next owner ran it again.
   */
  giveUp(entry: Forward, proven: boolean): void {
    const { host } = this.forwarder;
    const { counters } = host;
    const { id, msg, owner } = entry;
    const silentMs = host.options.clock.now() - entry.since;
    this.forwarder.signs.gaveUp(id, owner);
    counters.timedOut++;
    // Proven dead, or silent all along; an owner that answered probes lost this frame only.
    const gone = proven || host.silentFor(owner, silentMs);
    if (gone && host.suspect(owner)) {
      host.reportError(new TimeoutError(`forward to ring position ${owner} (suspected and removed after ${silentMs} ms)`, silentMs));
    }
    if (msg.reply.length > 0) {
      const unsure = 'the request may or may not have run';
      const error = gone
        ? new FlowError(ErrorCode.OwnerLost, `the broker at ring position ${owner} was lost before it acknowledged the request; ${unsure}`)
        : new TimeoutError(`forward to ring position ${owner} (${unsure})`, silentMs, msg.stream);
      if (gone) counters.ownerLost++;
      host.drop(msg, error);
      return;
    }
    counters.retried++;
    if (entry.notices) this.forwarder.retryIds.set(msg, id);
    host.route(msg);
  }

  /** An accepted forward, to its owner again: answered from the owner's duplicate window. */
  private sendAgain(entry: Forward): void {
    entry.since = this.forwarder.host.options.clock.now();
    this.resend(entry);
  }

  /** The same FWD (same id) again; its patience still counts from the first send. */
  private resend(entry: Forward): void {
    this.forwarder.host.counters.retried++;
    this.forwarder.send(entry);
  }
}
