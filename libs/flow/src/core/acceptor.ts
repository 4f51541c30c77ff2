import type { U64 } from './bytes';
import type { BrokerCounters } from './broker-counters';
import { errorReply } from './error-reply';
import { FlowError, ProtocolError } from './errors';
import { Allocate, decodeFrame, encodeFrame, FrameType, FwdFrame, MsgPayload } from './frame';
import { Key, keyFromBytes } from './key';
import type { Membership } from './membership';
import type { ResolvedBrokerOptions } from './options';
import type { Dispatcher } from './dispatcher';
import { DuplicateWindow } from './duplicate-window';
import { appendNotice, appendStreams, PublishFlags } from './publish-wire';
import type { NodeSubjects } from './subjects';
import { nodeSubject } from './subjects';

/** Publishes remembered per origin for duplicate suppression: the newest this many, over all publishers. */
export const DUPLICATE_WINDOW = 1 << 17;

const NO_BYTES = new Uint8Array(0);

/** What the acceptor needs from its broker. */
export interface AcceptorHost {
  readonly options: ResolvedBrokerOptions;
  readonly counters: BrokerCounters;
  readonly allocate: Allocate;
  readonly nodeSubjects: NodeSubjects;
  membership(): Membership | undefined;
  /** Queues messages this broker owns for their handlers; `msg.settle` hears how each ended. */
  readonly dispatcher: Dispatcher;
  /** Routes by this broker's view (relaying to the owner it sees). */
  route(msg: MsgPayload): void;
  send(subject: string, frame: Uint8Array): void;
}

interface Pending {
  accepted: U64[];
  handled: U64[];
}

/**
 * The owner's side of direct publishing (docs/PROTOCOL.md, "Direct publishing").
 *
 * A publisher's FWD that asks for notices and whose key this broker owns is
 * queued for its handler and answered "accepted"; "handled" follows when the
 * handler has finished (failed or not: a failed handler is not retried). A
 * refused message (no handler, overload) is answered with ERR instead. Notices
 * to one publisher go out together, one ACK frame per turn of the event loop.
 *
 * Duplicates: a FWD whose origin (`ackTo`) and id are in the window is not run
 * again; it is answered with what is known (accepted, or handled). A FWD for a
 * key this broker does not own by its own view (views disagree while members
 * come and go) is relayed to that owner, and the owner's answers are passed on:
 * "accepted" when it accepted the relay, "handled" when it reported handled (a
 * Go owner's ACK on receipt counts as handled, as Go has nothing more), an ERR
 * when the relay was refused. The relay is recorded in the duplicate window,
 * so a publisher's retry is answered from it instead of being relayed twice.
 */
export class Acceptor {
  /** By origin and id: true once handled, false while queued. */
  private readonly seen = new DuplicateWindow(DUPLICATE_WINDOW);
  private readonly pending = new Map<string, Pending>();
  /** Relays the owner has not accepted yet, by '<origin>/<id>' (rare: only while views disagree). */
  private readonly relaying = new Set<string>();
  private flushScheduled = false;
  private lastOrigin: Key | undefined;
  private lastOriginText = '';
  private readonly flush = (): void => this.flushNotices();

  constructor(private readonly host: AcceptorHost) {}

  /** A FWD with publish flags (publish-wire.ts); the broker is routing and joined. */
  onForward(frame: FwdFrame, flags: number): void {
    const { host } = this;
    const { msg, ackTo, id } = frame;
    const membership = host.membership();
    if ((flags & PublishFlags.NoAck) !== 0 || membership === undefined || msg.partitionKey.length === 0) {
      if ((flags & PublishFlags.NoAck) === 0) this.plainAck(ackTo, id);
      host.route(msg);
      return;
    }
    const partition = keyFromBytes(msg.partitionKey, host.options.partitionHash);
    const owner = membership.table.ownerOf(partition);
    if (!membership.table.isLocal(owner)) return this.relay(msg, ackTo, id);
    const origin = this.textOf(ackTo);
    const seen = this.seen.get(origin, id);
    if (seen !== undefined) {
      host.counters.duplicates++;
      this.notify(ackTo, id, seen);
      return;
    }
    let accepting = true;
    let refused: FlowError | undefined;
    let handledNow = false;
    msg.settle = (error) => {
      if (accepting) {
        if (error === undefined) handledNow = true;
        else refused = error;
      } else if (error === undefined) {
        this.seen.markHandled(origin, id);
        this.notify(ackTo, id, true);
      }
    };
    host.dispatcher.dispatch(msg, partition, owner, host.options.clique);
    accepting = false;
    if (refused !== undefined) return this.refuse(ackTo, id, refused);
    this.seen.set(origin, id, handledNow);
    this.notify(ackTo, id, handledNow);
  }

  /** Relays to the owner by our view (see the class comment); the forwarder keeps it until handled. */
  private relay(msg: MsgPayload, ackTo: Key, id: U64): void {
    const origin = this.textOf(ackTo);
    const seen = this.seen.get(origin, id);
    const relaying = `${origin}/${id}`;
    if (seen !== undefined || this.relaying.has(relaying)) {
      this.host.counters.duplicates++;
      // Not yet accepted by the owner: nothing to say yet.
      if (seen !== undefined) this.notify(ackTo, id, seen);
      return;
    }
    this.relaying.add(relaying);
    msg.accepted = () => {
      if (!this.relaying.delete(relaying)) return;
      this.seen.set(origin, id, false);
      this.notify(ackTo, id, false);
    };
    msg.settle = (error) => {
      this.relaying.delete(relaying);
      if (error !== undefined) return this.refuse(ackTo, id, error);
      this.seen.set(origin, id, true);
      this.notify(ackTo, id, true);
    };
    this.host.route(msg);
  }

  /** A publisher asks for the ring (a PING on `<clique>.view`): all members, and our streams. */
  onViewQuestion(data: Uint8Array): void {
    const membership = this.host.membership();
    if (membership === undefined) return;
    const frame = decodeFrame(data);
    if (frame.type !== FrameType.Ping) throw new ProtocolError(frame.type, 'expected a PING on the view subject');
    const info = encodeFrame({ type: FrameType.Info, id: frame.id, neighbours: [...membership.table.members()] });
    this.host.send(this.host.nodeSubjects.of(frame.sender), appendStreams(info, this.host.dispatcher.kinds()));
  }

  /** Key text, cached for the last origin: most FWDs come from few publishers. */
  private textOf(key: Key): string {
    if (this.lastOrigin === undefined || !this.lastOrigin.equals(key)) {
      this.lastOrigin = key;
      this.lastOriginText = key.toString();
    }
    return this.lastOriginText;
  }

  private refuse(ackTo: Key, id: U64, error: FlowError): void {
    this.host.send(this.host.nodeSubjects.of(ackTo), encodeFrame(errorReply(id, error), this.host.allocate));
  }

  private plainAck(ackTo: Key, id: U64): void {
    this.host.send(this.host.nodeSubjects.of(ackTo), encodeFrame({ type: FrameType.Ack, id, data: NO_BYTES }, this.host.allocate));
  }

  private notify(ackTo: Key, id: U64, handled: boolean): void {
    const text = this.textOf(ackTo);
    let pending = this.pending.get(text);
    if (pending === undefined) {
      pending = { accepted: [], handled: [] };
      this.pending.set(text, pending);
    }
    (handled ? pending.handled : pending.accepted).push(id);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      void Promise.resolve().then(this.flush);
    }
  }

  private flushNotices(): void {
    this.flushScheduled = false;
    const { clique } = this.host.options;
    for (const [text, { accepted, handled }] of this.pending) {
      const ack = encodeFrame({ type: FrameType.Ack, id: 0, data: NO_BYTES });
      this.host.send(nodeSubject(clique, text), appendNotice(ack, accepted, handled));
    }
    this.pending.clear();
  }
}
