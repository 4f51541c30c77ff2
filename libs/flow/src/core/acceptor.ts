import { type AcceptorHost, DUPLICATE_WINDOW, HELD_FORWARDS, RELAYED_WINDOW } from './acceptor-host';
import type { U64 } from './bytes';
import { errorReply } from './error-reply';
import { ErrorCode, FlowError } from './errors';
import { encodeAck, encodeFrame, FwdFrame, MsgPayload } from './frame';
import { Key, keyFromBytes } from './key';
import { DuplicateWindow } from './duplicate-window';
import { ACK_PATIENCE } from './overdue-forwards';
import { LaneOrder } from './lane-order';
import { OwnerNotices } from './owner-notices';
import { PublishOrigin, readOrigin } from './publish-origin';
import { appendRefuser, type BatchTarget, PublishFlags, readFloor, readPredecessor } from './publish-wire';
import { Refusals } from './refusals';
import { answerViewQuestion } from './view-answer';

export type { AcceptorHost } from './acceptor-host';

/**
 * The owner's side of direct publishing (docs/PROTOCOL.md, "Direct publishing").
 *
 * A publisher's FWD that asks for notices and whose key this broker owns is
 * queued for its handler and answered "accepted"; "handled" follows when the
 * handler has finished (failed or not: a failed handler is not retried). A
 * refused message (no handler, overload) is answered with ERR instead. Notices
 * to one publisher go out together, one ACK frame per turn of the event loop
 * (owner-notices.ts), which leaves out "accepted" for what it also
 * reports handled: a handler that finished within the turn costs one notice.
 *
 * Duplicates: a FWD whose origin (`ackTo`) and id are in the window is not run
 * again; it is answered with what is known (accepted, or handled). A FWD for a
 * key this broker does not own by its own view (views disagree while members
 * come and go) is relayed to that owner, and the owner's answers are passed on:
 * "accepted" when it accepted the relay, "handled" when it reported handled (a
 * Go owner's ACK on receipt counts as handled, as Go has nothing more), an ERR
 * when the relay was refused. The relay is recorded in the duplicate window,
 * so a publisher's retry is answered from it instead of being relayed twice.
 *
 * Order: a FWD that names a predecessor (flag Follows) waits for it: queued
 * here once that predecessor is queued (or refused) here, relayed once its
 * relay was accepted by its owner, and either once it was handled (here or by
 * the owner it was relayed to). Meanwhile it is held (LaneOrder), unanswered:
 * "accepted" comes when it is queued (or relayed and accepted), since a held
 * message runs only if its predecessor arrives, which only its publisher can
 * send. The publisher sends it again each ackTimeout meanwhile; each copy
 * replaces the held one.
 */
export class Acceptor {
  /** By origin and id: true once handled, false while queued. */
  private readonly seen = new DuplicateWindow(DUPLICATE_WINDOW);
  /** Relays the owner has not accepted yet, by '<origin>/<id>' (rare: only while views disagree). */
  private readonly relaying = new Set<string>();
  private lastOrigin: Key | undefined;
  private lastOriginText = '';
  /** Held frames with the publish flags they came with. */
  private readonly order: LaneOrder<{ frame: FwdFrame; flags: number; publish: PublishOrigin | undefined }>;
  /** Publishes relayed from here, by origin and id (their state is in `seen`). */
  private readonly relayed = new DuplicateWindow(RELAYED_WINDOW);
  /** Publishes refused here: a retry gets the same answer. */
  private readonly refusals = new Refusals(this.seen);

  private readonly notices: OwnerNotices;
  /** This broker, as its notices and refusals name it. */
  private readonly self: BatchTarget;

  constructor(private readonly host: AcceptorHost) {
    const { clique, nodeKey, virtualNodes } = host.options;
    this.self = { node: nodeKey, virtualNodes };
    this.notices = new OwnerNotices({
      clique,
      batchTo: this.self,
      send: (subject, frame) => host.send(subject, frame),
      maxPayload: () => host.maxPayload(),
      afterInput: (task) => host.afterInput(task),
    });
    this.order = new LaneOrder(Math.min(HELD_FORWARDS, host.options.maxQueuedMessages), ACK_PATIENCE * host.options.ackTimeout);
  }

  /** Publishes in the duplicate window. */
  get remembered(): number {
    return this.seen.size;
  }

  /** Direct publishes held for a missing predecessor. */
  get held(): number {
    return this.order.size;
  }

  /**
   * A FWD with publish flags (publish-wire.ts) in `data`; the broker is routing
   * and joined. Then the messages that waited for it, in order.
   */
  onForward(frame: FwdFrame, flags: number, data?: Uint8Array): void {
    const after = (flags & PublishFlags.Follows) !== 0 && data !== undefined ? readPredecessor(data) : undefined;
    if ((flags & PublishFlags.Floor) !== 0 && data !== undefined) this.seen.setFloor(this.textOf(frame.ackTo), readFloor(data, flags));
    // A member's relay or moved message names the publish it is (flag Origin).
    const publish = (flags & PublishFlags.Origin) !== 0 && data !== undefined ? readOrigin(data, flags) : undefined;
    if (this.take(frame, flags, after, publish)) {
      const name = this.nameOf(publish);
      this.release(name?.key.toString() ?? this.textOf(frame.ackTo), name?.id ?? frame.id);
    }
  }

  /**
   * `id` of `origin` was queued, refused, or its relay accepted or ended: the
   * messages waiting for it, in order. `acceptedElsewhere`: it was only
   * accepted by the owner it was relayed or moved to, so one waiting for it
   * goes on only the same way, relayed; one this broker owns by now waits
   * until that owner has handled it (seed 271338: a relay's retry reached the
   * restarted owner, which took it, while this broker owned the key again and
   * ran its successors first).
   */
  private release(origin: string, id: U64, acceptedElsewhere = false): void {
    if (this.order.size === 0) return;
    for (let next = this.order.release(origin, id); next !== undefined; next = this.order.release(origin, id)) {
      const after = acceptedElsewhere ? id : undefined;
      id = next.id;
      if (!this.take(next.value.frame, next.value.flags, after, next.value.publish)) return;
    }
  }

  /**
   * Queues, refuses or answers one FWD (true), or relays, holds or finds it
   * known (false). `publish`: the publish a member's FWD names (flag Origin);
   * by it, not by the member's own origin and id, this owner's duplicate
   * window and refusals know what it takes here. Answers go to the sender.
   */
  private take(frame: FwdFrame, flags: number, after: U64 | undefined, publish: PublishOrigin | undefined): boolean {
    const { host } = this;
    const { msg, ackTo, id } = frame;
    const membership = host.membership();
    if ((flags & PublishFlags.NoAck) !== 0 || membership === undefined || msg.partitionKey.length === 0) {
      if ((flags & PublishFlags.NoAck) === 0) this.plainAck(ackTo, id);
      else if ((flags & PublishFlags.AskBatches) !== 0) this.notify(ackTo, id, false);
      host.route(msg);
      return false;
    }
    const origin = this.textOf(ackTo);
    // The publish this is: the sender's own, or the one a member's FWD names, unless this broker relayed that
    // publish itself: its relay's records are under that name, and a member's copy stays apart from them, as
    // before names were sent (seed 76704: two members' views flapped, and the records of a relay and of a
    // member's copy taken here, under one name, lost the publish).
    const name = this.nameOf(publish);
    const relayedHere = publish !== undefined && name === undefined;
    // Apart until that relay is settled: once it was handled, so was the publish, and the copy is answered so.
    if (relayedHere && this.seen.get(publish.key.toString(), publish.id) === true) {
      host.counters.duplicates++;
      this.notify(ackTo, id, true);
      return false;
    }
    const publisher = name?.key.toString() ?? origin;
    const publishId = name?.id ?? id;
    const refusal = this.refusals.of(publisher, publishId);
    if (refusal !== undefined) {
      host.counters.duplicates++;
      this.send(ackTo, id, refusal);
      return false;
    }
    const partition = keyFromBytes(msg.partitionKey, host.options.partitionHash);
    const owner = membership.table.ownerOf(partition);
    const local = membership.table.isLocal(owner);
    const floored = (flags & PublishFlags.Floor) !== 0;
    const seen = local ? this.seen.get(publisher, publishId) : undefined;
    if (seen !== undefined) {
      host.counters.duplicates++;
      this.notify(ackTo, id, seen);
      return false;
    }
    // Relayed from here and not accepted yet (by this sender's id, or by the publish its copy named), and now
    // ours (its owner died): the relay comes back here and answers for it. A second copy would run twice, or be
    // refused while the first runs (seed 56652).
    if (local && this.relaying.size > 0 && (this.relaying.has(`${origin}/${id}`) || this.relaying.has(`${publisher}/${publishId}`))) {
      host.counters.duplicates++;
      return false;
    }
    if (this.holds(frame, flags, origin, after, local, publish)) return false;
    if (!local) {
      // A member's copy of a publish this broker relayed or moved on itself came back, and the key is another's:
      // the views form a cycle. Relayed again it would go round at wire speed, a new forward at each hop, until
      // the views agree (seed 220714: thousands of FWDs in one instant between three brokers). It stops here,
      // unanswered until that relay is handled (above): its sender sends it again, or after its patience routes
      // it by its view then, while this broker's own relay carries the publish.
      if (relayedHere) host.counters.duplicates++;
      else this.relay(msg, ackTo, id, floored, publish, publisher, publishId);
      return false;
    }
    let accepting = true;
    let refused: FlowError | undefined;
    let handledNow = false;
    msg.settle = (error, moved) => {
      if (moved === true) {
        // It goes to another owner as a member's FWD that names this publish.
        msg.origin = publish ?? { key: ackTo, id };
        this.moved(msg, publisher, publishId);
      } else if (accepting) {
        if (error === undefined) handledNow = true;
        else refused = error;
      } else if (error === undefined) {
        this.seen.markHandled(publisher, publishId);
        this.notify(ackTo, id, true);
        this.release(publisher, publishId);
      } else this.notPlaced(ackTo, id, publisher, publishId, error);
    };
    host.dispatcher.dispatch(msg, partition, owner, host.options.clique);
    accepting = false;
    if (refused !== undefined) this.refuse(ackTo, id, publisher, publishId, refused);
    else {
      this.seen.set(publisher, publishId, handledNow, floored);
      this.notify(ackTo, id, handledNow);
    }
    return true;
  }

  /**
   * Holds `frame` (with its publish `flags`) until its predecessor `after` allows it (see the class
   * comment); a held copy is replaced by this one, whose predecessor may have
   * changed (settled elsewhere, refused).
   */
  private holds(frame: FwdFrame, flags: number, origin: string, after: U64 | undefined, local: boolean, publish: PublishOrigin | undefined): boolean {
    if (this.order.size > 0 && this.order.forget(origin, frame.id)) this.host.counters.duplicates++;
    if (after === undefined) return false;
    const state = this.seen.get(origin, after);
    if (state === true) return false;
    // Accepted (not yet handled) is enough where both go the same way: queued here, or relayed from here
    // (a predecessor moved from here counts once its new owner accepted it: see moved).
    const relayed = state === false && this.relayed.size > 0 ? this.relayed.get(origin, after) : undefined;
    if (state === false && relayed !== false && local === (relayed === undefined)) return false;
    // Not answered while held: "accepted" promises the message runs unless this owner dies, and a held one runs
    // only if its predecessor comes, which its publisher may no longer send (seed 960 with publisher restarts: the
    // publisher crashed before its retry of the lost predecessor, and the held message it had been told was
    // accepted was dropped after its patience). Its publisher sends it again until the predecessor is here.
    this.order.hold(origin, frame.id, after, this.host.options.clock.now(), { frame, flags, publish });
    return true;
  }

  /**
   * Relays to the owner by our view (see the class comment); the forwarder
   * keeps it until handled, and names the publish (`publish`, or the sender's
   * own) to the owner. `floored`: see DuplicateWindow.set.
   */
  private relay(msg: MsgPayload, ackTo: Key, id: U64, floored: boolean, publish: PublishOrigin | undefined, publisher: string, publishId: U64): void {
    const origin = this.textOf(ackTo);
    // Known here as the publish it is (taken here, then moved on), or as this sender's relay: answered from
    // the window. Relaying it instead would bounce a moved message between two views that disagree (seed 76704).
    const seen = this.seen.get(publisher, publishId) ?? (publisher === origin ? undefined : this.seen.get(origin, id));
    const relaying = `${origin}/${id}`;
    if (seen !== undefined || this.relaying.has(relaying)) {
      this.host.counters.duplicates++;
      // Not yet accepted by the owner: nothing to say yet.
      if (seen !== undefined) this.notify(ackTo, id, seen);
      return;
    }
    // Known by the publish it is too: the publisher's own copy, sent here once the key is ours, waits for it (take).
    const named = `${publisher}/${publishId}`;
    this.relaying.add(relaying).add(named);
    this.relayed.set(origin, id, true);
    msg.origin = publish ?? { key: ackTo, id };
    msg.accepted = () => {
      if (!this.relaying.delete(relaying)) return;
      this.relaying.delete(named);
      this.seen.set(origin, id, false, floored);
      this.notify(ackTo, id, false);
      this.release(origin, id, true);
    };
    msg.settle = (error, moved) => {
      // Routed here again after all (its owner died), then on from here: still a relay, not settled.
      if (moved === true) return;
      this.relaying.delete(relaying);
      this.relaying.delete(named);
      // Refused by its owner, accepted there or not yet.
      if (error !== undefined) return this.notPlaced(ackTo, id, origin, id, error);
      this.seen.set(origin, id, true, floored);
      // A member's copy: the publish it names was handled, and its publisher's own copy must not run here after.
      if (named !== relaying) this.seen.set(publisher, publishId, true, floored);
      this.notify(ackTo, id, true);
      this.release(origin, id);
    };
    this.host.route(msg);
  }

  /**
   * `id` of `origin`, queued here, goes to another owner instead (a handoff's
   * release, a reconnect: handoff.ts), which tells `msg.accepted`, then settles
   * it. Until accepted there, its successors wait as behind a relay not yet
   * accepted (`relayed` false); then as behind an accepted relay.
   */
  private moved(msg: MsgPayload, origin: string, id: U64): void {
    this.relayed.set(origin, id, false);
    msg.accepted = () => {
      this.relayed.set(origin, id, true);
      this.release(origin, id, true);
    };
  }

  /**
   * `id` of `origin` could not be placed: the owner it was relayed or moved
   * to refused it (before or after it was answered "accepted" here), or the
   * broker closed while it was held. The publisher hears the refusal (after
   * publish() resolved, it reports the error), and a retry of it is refused
   * the same way (refuse). What waited for it goes on, unless the refusal is
   * FLOW_CLOSED: the publisher sends it to the next owner and its successors
   * after it, which must not run here first (seed 148000).
   */
  private notPlaced(ackTo: Key, answerId: U64, origin: string, id: U64, error: FlowError): void {
    this.refuse(ackTo, answerId, origin, id, error);
    if (error.code !== ErrorCode.Closed) this.release(origin, id);
  }

  /**
   * The name a member's FWD naming `publish` is known by here: that publish,
   * unless this broker relayed it itself (see take); undefined then, and for a
   * FWD that names none: it is known by its sender's own origin and id.
   */
  private nameOf(publish: PublishOrigin | undefined): PublishOrigin | undefined {
    return publish !== undefined && this.relayed.get(publish.key.toString(), publish.id) === undefined ? publish : undefined;
  }

  /** A view question (view-answer.ts): answered by a joined broker. */
  onViewQuestion(data: Uint8Array): void {
    answerViewQuestion(this.host, data);
  }

  /** Key text, cached for the last origin: most FWDs come from few publishers. */
  private textOf(key: Key): string {
    if (this.lastOrigin === undefined || !this.lastOrigin.equals(key)) {
      this.lastOrigin = key;
      this.lastOriginText = key.toString();
    }
    return this.lastOriginText;
  }

  /**
   * Refuses `id` of `origin` (answering `ackTo` under `answerId`): for good
   * (Refusals), but for FLOW_CLOSED, which says "not here, send it on": the
   * publisher does, maybe to this broker once it owns the key, which must
   * then take it as new (seed 90206: a relay failed because its owner closed,
   * and the relaying broker, owner next, answered each retry FLOW_CLOSED).
   */
  private refuse(ackTo: Key, answerId: U64, origin: string, id: U64, error: FlowError): void {
    if (error.code === ErrorCode.Closed) this.seen.markRefused(origin, id);
    else this.refusals.record(origin, id, error);
    this.send(ackTo, answerId, error);
  }

  /** An ERR naming this broker (appendRefuser): a publisher tells it from a refusal by the owner its publish went on to. */
  private send(ackTo: Key, id: U64, error: FlowError): void {
    this.host.send(this.host.nodeSubjects.of(ackTo), appendRefuser(encodeFrame(errorReply(id, error)), this.self));
  }

  private plainAck(ackTo: Key, id: U64): void {
    this.host.send(this.host.nodeSubjects.of(ackTo), encodeAck(id, this.host.allocate));
  }

  private notify(ackTo: Key, id: U64, handled: boolean): void {
    this.notices.notify(this.textOf(ackTo), id, handled);
  }

  /** Sends the notices waiting for the end of the turn now: the broker is closing, and that turn may come too late. */
  flushNow(): void {
    this.notices.flushNow();
  }
}
