import type { U64 } from './bytes';
import { Capability, supports } from './capabilities';
import { Fifo } from './fifo';
import { DeliveredRequests } from './delivered-requests';
import { asFlowError, errorReply } from './error-reply';
import { ErrorCode, FlowError, OverloadedError, RemoteError, TransportError } from './errors';
import { encodeFrame, ErrFrame, FrameType, MsgPayload } from './frame';
import { Forward, ForwarderHost } from './forwarder-host';
import { Key, parseKey } from './key';
import { PendingTable } from './pending';
import { encodeMemberFwd, memberTrailer } from './publish-origin';
import { type BatchTarget, bytesAbove, readNotice } from './publish-wire';
import { OverdueForwards } from './overdue-forwards';
import { OwnerSigns } from './owner-signs';
import { nodeSubject } from './subjects';


/** Owners of waiting requests probed per watch round, at most. */
const WATCHED_OWNERS = 64;

export type { ForwarderHost } from './forwarder-host';

/**
 * Acknowledged forwarding (PROTOCOL.md, "Routing"): sends FWD to the owner,
 * waits for its ACK, and when none comes suspects the owner and routes the
 * message again, to the next owner.
 *
 * Flow control: at most `maxInFlightForwards` forwards await their ACK.
 * Beyond that, messages wait here in arrival order (at most
 * `maxQueuedMessages`, then they are dropped with an OverloadedError) and
 * go out as ACKs come back. The window keeps the owners' queues, and so the
 * ACK delay, bounded; waiting in order keeps each key's order.
 *
 * One deviation from Go flow, against false suspicion: a missing ACK is not
 * proof of death. A forward whose answer is late keeps waiting while its
 * owner shows signs of life, and its owner is suspected only when proven dead
 * or silent all along (overdue-forwards.ts).
 *
 * Forward notices (PROTOCOL.md, "Forward notices"): a message (not a
 * request) forwarded to a Flow owner that announced ForwardNotices goes as a
 * FWD with publish flags asking for notices, as a publisher's does (and,
 * for a publisher's publish relayed or moved on from here, naming it: flag
 * Origin, publish-wire.ts). "Accepted"
 * proves the owner alive and keeps the message here; "handled" settles it.
 * Until then the forward holds its window slot, and when the owner is found
 * dead the message is routed again under the same id, so an owner that had
 * handled it after all answers from its duplicate window. An accepted forward
 * waits as long as its owner speaks, and is sent again (answered from the
 * window) after ACK_PATIENCE ackTimeouts or when its silent owner answers a
 * probe (overdue-forwards.ts). A Go owner keeps Go's ACK on receipt.
 */
export class Forwarder {
  /** By id; the value says whether the answer was "handled" (an ACK counts as handled). */
  private readonly pending: PendingTable<boolean, Forward>;
  /** Messages waiting for a free slot in the window, oldest first. */
  private readonly waiting = new Fifo<MsgPayload>();
  private releasing = false;
  /** Owners' signs of life: last answers, shared probes, given-up forwards. */
  private readonly signs: OwnerSigns;
  /** The id of a notice forward routed again: kept, so the owner's duplicate window knows it. */
  private readonly retryIds = new WeakMap<MsgPayload, U64>();
  /** Acknowledged requests by owner: told FLOW_OWNER_LOST when that owner is found dead. */
  private readonly delivered: DeliveredRequests;
  private watchTimer: unknown;
  /** Forwards whose answer is an ackTimeout late, and their settle reasons. */
  private readonly late: OverdueForwards;

  constructor(private readonly host: ForwarderHost) {
    const { clock, maxInFlightForwards, ackTimeout } = host.options;
    this.pending = new PendingTable(clock, 'maxInFlightForwards', maxInFlightForwards, ackTimeout);
    this.delivered = new DeliveredRequests(clock, host.options.requestTimeout);
    this.signs = new OwnerSigns({ clock, probe: (key) => host.probe(key), readmit: (key) => host.readmit(key) });
    this.late = new OverdueForwards({
      ...{ host, pending: this.pending, signs: this.signs, retryIds: this.retryIds },
      ...{ awaitAck: (entry) => this.awaitAck(entry), send: (entry) => this.send(entry), ownerGone: (owner) => this.ownerGone(owner) },
    });
  }

  /** Forwards awaiting their ACK or a free slot. */
  get inFlight(): number {
    return this.pending.size + this.waiting.length;
  }

  forward(msg: MsgPayload, owner: Key): void {
    const { maxInFlightForwards, maxQueuedMessages } = this.host.options;
    // Behind waiting messages unless this is one of them being released.
    if (this.pending.size >= maxInFlightForwards || (this.waiting.length > 0 && !this.releasing)) {
      if (this.waiting.length >= maxQueuedMessages) {
        this.host.drop(msg, new OverloadedError('maxQueuedMessages (forwards waiting for the window)', maxQueuedMessages));
      } else {
        this.waiting.push(msg);
      }
      return;
    }
    const notices = msg.reply.length === 0 && this.takesNotices(owner);
    const limit = this.host.maxPayload();
    const bytes = bytesAbove(limit, msg, notices ? memberTrailer(msg.origin) : 0);
    if (bytes !== undefined) {
      // A foreign publisher's message near the limit: the transport would refuse every try, and the owner be taken for dead.
      this.host.drop(msg, new TransportError(`cannot forward a message on "${msg.stream}": ${bytes} bytes as a FWD, above the max payload of ${limit}`));
      return;
    }
    let id = this.retryIds.get(msg);
    if (id === undefined) id = this.host.nextId();
    else this.retryIds.delete(msg);
    const entry: Forward = { id, msg, owner, notices, since: this.host.options.clock.now(), accepted: false, pending: false };
    if (!this.awaitAck(entry)) return;
    this.host.counters.forwarded++;
    this.send(entry);
  }

  /**
   * Whether `owner` answers a forward with notices: it announced
   * ForwardNotices, or it announced nothing yet and this broker is not in
   * 'go-flow' mode, where every member is a Flow broker (a Go member is refused
   * once known). Taking such an owner for Go would let its ACK on receipt settle
   * the forward, and a message it then refused or died holding be lost (seed
   * 130441: a broker that joined while the owner was disconnected relayed an
   * acknowledged publish to it, and the owner, overloaded, dropped it).
   */
  private takesNotices(owner: Key): boolean {
    const announcement = this.host.announcementOf(owner);
    if (announcement === undefined) return this.host.options.partitionHash !== 'go-flow';
    return supports(announcement, Capability.ForwardNotices);
  }

  /**
   * An ACK arrived; true when it answered one of our forwards in time. `data`,
   * the whole message: an ACK with id 0 may carry notices (publish-wire.ts),
   * read here for our forwards and left to the publisher for its own (false).
   */
  onAck(id: U64, data?: Uint8Array): boolean {
    if (id === 0) {
      if (data !== undefined && this.pending.size + this.signs.givenUpCount > 0) this.onNotice(data);
      return false;
    }
    if (this.pending.resolve(id, true)) return true;
    this.signs.lateAnswer(id);
    return false;
  }

  /**
   * An owner refused a forward that asked for notices (no handler, overload):
   * the answer settles it, and the message is dropped with the owner's error
   * (a relay behind it hears the refusal). False when the id is not ours.
   * `refuser`: the broker the ERR names; one this forward has since left
   * (routed again under the same id) refused only its earlier copy, which
   * ended there: this one waits for its owner's answer.
   */
  onErr(frame: ErrFrame, refuser?: BatchTarget): boolean {
    if (refuser !== undefined && this.leftBehind(frame.id, refuser)) return true;
    if (!this.pending.fail(frame.id, new RemoteError(frame.code, frame.message, undefined))) return false;
    // The owner's refusal is its answer (acked), then the message is dropped. Not a left-behind copy's: the forward
    // is still pending, and its owner's answer counts when it comes.
    this.host.counters.acked++;
    return true;
  }

  /** Whether pending forward `id` is at a broker other than `refuser`, by its owner's announcement (unknown: not). */
  private leftBehind(id: U64, refuser: BatchTarget): boolean {
    const forward = this.pending.tagOf(id);
    const owner = forward === undefined ? undefined : this.host.announcementOf(forward.owner)?.nodeKey;
    return owner !== undefined && !owner.equals(refuser.node);
  }

  /**
   * `owner` was found dead (suspected): every request it acknowledged and may
   * not have answered fails at once with FLOW_OWNER_LOST, sent to its requester.
   * One not yet acknowledged fails the same way when its forward gives up
   * (OverdueForwards.giveUp): a request is never sent to a second owner.
   */
  ownerLost(owner: Key): void {
    const lost = this.delivered.take(owner.toString());
    if (lost.length === 0) return;
    const error = new FlowError(ErrorCode.OwnerLost, `the broker at ring position ${owner} was lost before it replied`);
    for (const { reply, id } of lost) this.host.send(reply, encodeFrame(errorReply(id, error), this.host.allocate));
    this.host.counters.ownerLost += lost.length;
  }

  /** `position` sent a JOIN: a forward it has not accepted, sent before, goes again at its next overdue check. */
  joined(position: Key): void {
    this.signs.joined(position);
  }

  /** True when `key` acknowledged a forward within the last `ms`: alive, if slow. */
  heardWithin(key: Key, ms: number): boolean {
    return this.signs.heardWithin(key, ms);
  }

  drained(): Promise<void> {
    return this.pending.drained();
  }

  /** Drops everything waiting and fails everything in flight with `error` (on close). */
  failAll(error: FlowError): void {
    if (this.watchTimer !== undefined) this.host.options.clock.clearTimeout(this.watchTimer);
    this.watchTimer = undefined;
    for (let msg = this.waiting.shift(); msg !== undefined; msg = this.waiting.shift()) this.host.drop(msg, error);
    this.pending.failAll(error);
  }

  /**
   * `owner` holds request `msg` (acknowledged, or sent direct): FLOW_OWNER_LOST
   * if it is found dead. `own`: this broker's request, kept until `requestEnded`.
   */
  recordDelivered(owner: Key, msg: MsgPayload, own = false): void {
    this.delivered.record(owner.toString(), msg.reply, msg.id, own);
    this.watchTimer ??= this.host.options.clock.setTimeout(() => this.watch(), this.host.options.ackTimeout);
  }

  /** This broker's own request `id` ended: its owner no longer holds anything for it. */
  requestEnded(id: U64): void {
    this.delivered.forget(id);
  }

  /**
   * Every ackTimeout while acknowledged requests wait: an owner holding one for
   * an ackTimeout that acknowledged nothing in that time is probed, and found
   * dead, suspected at once (which fails its requests with FLOW_OWNER_LOST)
   * instead of at the next stabilization round. A busy owner acknowledges
   * forwards all the time and is never probed.
   */
  private watch(): void {
    this.watchTimer = undefined;
    const { ackTimeout, clock } = this.host.options;
    for (const text of this.delivered.ownersWaitingSince(clock.now() - ackTimeout, WATCHED_OWNERS)) {
      const owner = parseKey(text);
      if (this.heardWithin(owner, ackTimeout)) continue;
      this.signs.probe(owner)
        .then((verdict) => {
          if (verdict === 'dead' && !this.host.suspect(owner)) this.ownerLost(owner);
        })
        .catch((error: unknown) => this.host.contain(error, 'owner probe'));
    }
    if (this.delivered.count > 0) this.watchTimer = clock.setTimeout(() => this.watch(), ackTimeout);
  }

  private onNotice(data: Uint8Array): void {
    const notice = readNotice(data);
    if (notice === undefined) return;
    for (const id of notice.accepted) if (!this.pending.resolve(id, false)) this.signs.lateAnswer(id);
    for (const id of notice.handled) {
      if (this.pending.resolve(id, true)) this.host.counters.acked++;
      else this.signs.lateAnswer(id);
    }
  }

  private send(entry: Forward): void {
    const { options, allocate } = this.host;
    const { id, msg, owner } = entry;
    const fwd = { type: FrameType.Fwd, id, ackTo: options.nodeKey, msg } as const;
    const frame = entry.notices ? encodeMemberFwd(fwd, allocate, msg.origin) : encodeFrame(fwd, allocate);
    const headers = options.instrumentation === undefined ? msg.headers : options.instrumentation.forward(msg, owner);
    this.host.send(nodeSubject(options.clique, owner), frame, headers);
  }

  /** A slot came free: send the oldest waiting messages, routed by the current view. */
  private release(): void {
    if (this.releasing) return;
    const { maxInFlightForwards } = this.host.options;
    this.releasing = true;
    try {
      while (this.pending.size < maxInFlightForwards) {
        const msg = this.waiting.shift();
        if (msg === undefined) return;
        this.host.route(msg);
      }
    } finally {
      this.releasing = false;
    }
  }

  private awaitAck(entry: Forward): boolean {
    const { ackTimeout } = this.host.options;
    const { msg, owner } = entry;
    try {
      this.pending.add(entry.id, ackTimeout, () => this.late.overdue, (error, handled) => {
        entry.pending = false;
        if (error === undefined) {
          this.signs.heard(owner);
          if (handled === false && entry.notices) return this.onAccepted(entry);
          if (msg.reply.length > 0) this.recordDelivered(owner, msg);
          msg.settle?.();
        } else if (error === this.late.ownerGone) this.late.giveUp(entry, true);
        else if (error === this.late.overdue) this.late.onOverdue(entry);
        else this.host.drop(msg, error);
        if (this.waiting.length > 0) this.release();
      }, entry);
      entry.pending = true;
      return true;
    } catch (error) {
      this.host.drop(msg, asFlowError(error, 'forward', ErrorCode.Transport));
      return false;
    }
  }

  /**
   * `owner` is proven gone: every forward waiting on it gives up now, the
   * first sent first, so that messages of one key routed again keep their
   * order. Each on its own verdict, a later relay of a key gave up first and
   * ran here before the earlier one (seed 240734: node-1's relays of pub-1's
   * #0 and #2 to node-2, draining, came back to node-1 the other way round).
   */
  private ownerGone(owner: Key): void {
    this.pending.failWhere((entry) => entry.owner.equals(owner), this.late.ownerGone);
  }

  /** The owner holds the message (again): wait for "handled"; the relay behind it hears "accepted" once. */
  private onAccepted(entry: Forward): void {
    const first = !entry.accepted;
    entry.accepted = true;
    entry.since = this.host.options.clock.now();
    if (this.awaitAck(entry) && first) entry.msg.accepted?.();
  }
}
