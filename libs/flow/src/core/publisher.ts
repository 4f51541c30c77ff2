import type { U64 } from './bytes';
import { ErrorCode, FlowError, OverloadedError, RemoteError } from './errors';
import { Fifo } from './fifo';
import { InFlightTable } from './in-flight-table';
import { AckFrame, decodeFrame, ErrFrame, FrameType, FwdFrame, MsgPayload } from './frame';
import { ACK_PATIENCE } from './forwarder';
import { Key, keyFromBytes } from './key';
import { ForwardRoutes } from './forward-batches';
import { encodePublishFwd, Notice, PublishFlags, readNotice, retrailPublishFwd } from './publish-wire';
import { PublishLanes } from './publish-lanes';
import { Entry, newEntry, PublisherHost, Waiting } from './publisher-host';
import { ViewWait } from './view-wait';

export type { PublisherHost } from './publisher-host';

/**
 * Direct publishing (docs/PROTOCOL.md, "Direct publishing"): a keyed message
 * goes straight to its owner's node subject as a FWD whose `ackTo` is this broker.
 *
 * With acknowledgement, publish() resolves when the owner accepted the message
 * (an 'FNOT' notice from a Flow owner, a plain ACK from a Go owner or a Flow
 * broker that relays it), and the message stays here until the owner reports
 * it handled. At most `maxInFlightForwards` such messages are kept; further
 * publishes wait in order (at most `maxQueuedMessages`, then FLOW_OVERLOADED).
 *
 * Per-key order (docs/PROTOCOL.md, "Order"): messages of one partition lane go
 * to one owner at a time. While any of them is unsettled, later ones wait when
 * the lane's owner has changed, so a new owner only starts after the old one
 * handled everything it had. To the same owner they go at once, each naming the
 * lane's previous unsettled message (its predecessor, recomputed at every send):
 * the owner holds one whose predecessor it has not queued (a lost or late FWD)
 * until the retry brings it (lane-order.ts), and a predecessor settled meanwhile
 * (refused, handed on) is no longer named, so no gap waits for ever. When an
 * owner is found dead, its unhandled messages go to the new owners in publish
 * order, before anything later of their lanes. Retries keep their id: an owner
 * that sees one again answers from its duplicate window.
 *
 * A publisher-only broker whose first view question is outstanding (at start,
 * or after a member's JOIN while it knows nothing) keeps keyed publishes until
 * the answer (an ackTimeout per question, ring-view.ts), so they go direct, in
 * order, rather than through the queue group (view-wait.ts).
 *
 * Every ackTimeout, an owner holding a message unanswered for an ackTimeout is
 * probed unless it spoke within that time: dead, it is suspected and its
 * messages move; alive, they are sent again to it (a lost ACK or notice), and an
 * unaccepted one moves after ACK_PATIENCE tries, as forwards do.
 */
export class Publisher {
  private readonly entries: InFlightTable<Entry>;
  private readonly lanes = new PublishLanes();
  private readonly waiting = new Fifo<Waiting>();
  /** Keyed publishes made while the view is awaited. */
  private readonly early: ViewWait;
  private readonly lastHeard = new Map<string, number>();
  private readonly probing = new Set<string>();
  private watchTimer: unknown;
  private drainWaiters: (() => void)[] = [];
  /** FWDs go batched to owners whose notices say they take batches (forward-batches.ts). */
  private readonly routes: ForwardRoutes;
  /** The notice being read. */
  private notice: Notice | undefined;
  /**
   * One executor for every publish's Promise, instead of a closure per
   * publish: it runs synchronously inside `new Promise` and leaves the
   * resolving functions here for the caller to take at once.
   */
  private readonly capture = (resolve: () => void, reject: (error: FlowError) => void): void => {
    this.capturedResolve = resolve;
    this.capturedReject = reject;
  };
  private capturedResolve: () => void = () => undefined;
  private capturedReject: (error: FlowError) => void = () => undefined;

  constructor(private readonly host: PublisherHost) {
    this.entries = new InFlightTable(host.options.maxInFlightForwards);
    this.routes = new ForwardRoutes(host.nodeSubjects, (subject, data, headers) => void host.send(subject, data, headers), host.batchForwards, () => host.maxPayload());
    const send = (msg: MsgPayload, ack: boolean) => this.publish(msg, ack) ?? (host.viaQueueGroup(msg), Promise.resolve());
    this.early = new ViewWait(host, send, () => this.notifyDrained());
  }

  /** Acknowledged publishes not yet handled, and publishes waiting for the window. */
  get inFlight(): number {
    return this.entries.size + this.waiting.length + this.early.length;
  }

  /**
   * Sends a keyed message direct; undefined when this broker cannot (the caller
   * uses the queue group). `ack` false: fire and forget, resolved once sent.
   */
  publish(msg: MsgPayload, ack: boolean): Promise<void> | undefined {
    if (msg.partitionKey.length === 0 || !this.host.options.directRouting) return undefined;
    if (this.early.applies) return this.early.keep(msg, ack);
    const partition = keyFromBytes(msg.partitionKey, this.host.options.partitionHash);
    const owner = this.host.ownerOf(msg.stream, 'message', partition);
    if (owner === undefined) return undefined;
    if (!ack) {
      if (this.host.isLocal(owner)) this.host.dispatchLocal(msg);
      else this.sendFwd(this.host.nextId(), msg, owner, PublishFlags.NoAck);
      return Promise.resolve();
    }
    const { maxInFlightForwards, maxQueuedMessages } = this.host.options;
    if (this.entries.size < maxInFlightForwards && this.waiting.length === 0) {
      const published = new Promise<void>(this.capture);
      this.admit(msg, partition, this.capturedResolve, this.capturedReject, owner);
      return published;
    }
    if (this.waiting.length >= maxQueuedMessages) {
      return Promise.reject(new OverloadedError('maxQueuedMessages (publishes waiting for the window)', maxQueuedMessages));
    }
    return new Promise((resolve, reject) => this.waiting.push({ msg, partition, resolve, reject }));
  }

  /** Sends a keyed request direct (FWD, no ACK: the reply answers it); false when this broker cannot. */
  request(msg: MsgPayload): boolean {
    if (!this.host.options.directRouting) return false;
    const partition = keyFromBytes(msg.partitionKey, this.host.options.partitionHash);
    const owner = this.host.ownerOf(msg.stream, 'request', partition);
    if (owner === undefined) return false;
    if (this.host.isLocal(owner)) {
      this.host.dispatchLocal(msg);
      return true;
    }
    this.sendFwd(this.host.nextId(), msg, owner, PublishFlags.NoAck);
    this.host.delivered(owner, msg);
    return true;
  }

  /** An ACK on our node subject; true when it was for a publish (a plain ACK or a notice). */
  onAck(frame: AckFrame, data: Uint8Array): boolean {
    const notice = readNotice(data);
    if (notice !== undefined) {
      const now = this.host.options.clock.now();
      this.notice = notice;
      for (const id of notice.accepted) this.onAccepted(id, now);
      for (const id of notice.handled) this.settle(id, true, now);
      this.notice = undefined;
      return true;
    }
    // A Go owner's ACK, or a Flow broker's that relays the message: accepted, and nothing follows.
    return this.settleApart(frame.id, true);
  }

  /** An ERR for one of our publishes: the owner refused it (no handler, overload). */
  onErr(frame: ErrFrame): boolean {
    const entry = this.entries.get(frame.id);
    if (entry === undefined) return false;
    // A broker closing under the message: the watch finds it gone and moves the message on.
    if (frame.code === ErrorCode.Closed) return true;
    this.heard(entry);
    if (frame.code === ErrorCode.NoHandler && !entry.accepted) {
      // The member does not handle this stream after all: the queue group decides.
      this.settleApart(frame.id, false);
      this.host.viaQueueGroup(messageOf(entry));
      entry.resolve?.();
      return true;
    }
    const error = new RemoteError(frame.code, frame.message, undefined);
    if (entry.reject === undefined) this.host.reportError(error);
    else entry.reject(error);
    this.settleApart(frame.id, false);
    return true;
  }

  /** Resolves when no acknowledged publish is unsettled. */
  drained(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Rejects every unsettled and waiting publish with `error` (on close). */
  failAll(error: FlowError): void {
    // Fire-and-forget publishes resolved already: they leave before the connection does.
    this.routes.flush();
    if (this.watchTimer !== undefined) this.host.options.clock.clearTimeout(this.watchTimer);
    this.watchTimer = undefined;
    for (let w = this.waiting.shift(); w !== undefined; w = this.waiting.shift()) w.reject(error);
    this.early.failAll(error);
    for (const entry of this.entries.inOrder()) entry.reject?.(error);
    this.host.counters.dropped += this.entries.size;
    this.entries.clear();
    this.lanes.clear();
    this.notifyDrained();
  }

  /** `owner`: the partition's owner when the caller has just looked it up. */
  private admit(msg: MsgPayload, partition: Key, resolve: () => void, reject: (error: FlowError) => void, owner?: Key): void {
    const entry = newEntry(this.host.nextId(), msg, partition, resolve, reject);
    this.entries.add(entry);
    this.route(entry, owner);
    this.watchTimer ??= this.host.options.clock.setTimeout(() => this.watch(), this.host.options.ackTimeout);
  }

  /** Sends `entry` to its owner by the current view (`known`: just looked up), or holds it behind its lane. */
  private route(entry: Entry, known?: Key): void {
    const owner = known ?? this.host.ownerOf(entry.stream, 'message', entry.partition);
    if (owner === undefined || this.host.isLocal(owner)) {
      // No view any more, or this broker owns it now: handed on, settled here.
      this.settle(entry.id, false);
      if (owner === undefined) this.host.viaQueueGroup(messageOf(entry));
      else this.host.dispatchLocal(messageOf(entry));
      entry.resolve?.();
      return;
    }
    const ownerText = owner.toString();
    entry.owner = undefined;
    if (!this.lanes.open(entry, ownerText)) return;
    entry.owner = owner;
    entry.ownerText = ownerText;
    entry.tries = 0;
    this.transmit(entry);
  }

  /** Sends `entry` to its owner, naming the lane's previous unsettled message; the first send encodes it for good. */
  private transmit(entry: Entry): void {
    const { allocate, options } = this.host;
    entry.since = options.clock.now();
    entry.tries++;
    const after = entry.prev?.id;
    const first = entry.msg !== undefined;
    if (entry.msg !== undefined) {
      entry.wire = encodePublishFwd({ type: FrameType.Fwd, id: entry.id, ackTo: options.nodeKey, msg: entry.msg }, PublishFlags.Notices, allocate, after);
      entry.msg = undefined;
    } else if (after !== entry.wireAfter) {
      entry.wire = retrailPublishFwd(entry.wire!, PublishFlags.Notices, allocate, after);
    }
    entry.wireAfter = after;
    this.host.counters.forwarded++;
    // Only a first send may wait for a batch: a resend goes alone (docs/PROTOCOL.md, "Forward batches").
    this.routes.send(entry.owner!, entry.ownerText, entry.wire!, entry.headers, first);
  }

  /** A fire-and-forget FWD or a request (no notices). */
  private sendFwd(id: U64, msg: MsgPayload, owner: Key, flags: number): void {
    const { options, allocate } = this.host;
    const ownerText = owner.toString();
    if (this.routes.shouldAsk(ownerText, id, options.clock.now(), options.ackTimeout)) flags |= PublishFlags.AskBatches;
    const frame = encodePublishFwd({ type: FrameType.Fwd, id, ackTo: options.nodeKey, msg }, flags, allocate);
    this.host.counters.forwarded++;
    this.routes.send(owner, ownerText, frame, msg.headers, true);
  }

  private onAccepted(id: U64, now: number): void {
    const entry = this.entries.get(id);
    if (entry === undefined) {
      if (this.notice !== undefined) this.routes.answered(id, this.notice.batchTo);
      return;
    }
    this.heard(entry, now);
    entry.tries = 0;
    if (entry.accepted) return;
    entry.accepted = true;
    entry.since = now;
    entry.resolve?.();
    entry.resolve = entry.reject = undefined;
  }

  /** Removes a publish: handled (`done`), refused or handed on. False when it was unknown. */
  private settle(id: U64, done: boolean, now = this.host.options.clock.now()): boolean {
    const entry = this.entries.get(id);
    if (entry === undefined) return false;
    if (done) {
      this.heard(entry, now);
      this.host.counters.acked++;
      entry.resolve?.();
    }
    this.entries.delete(id);
    if (entry.owner !== undefined) {
      const held = this.lanes.close(entry);
      if (held !== undefined) for (const next of held) this.route(next);
    }
    this.admitWaiting();
    if (this.entries.size === 0) this.notifyDrained();
    return true;
  }

  /**
   * Settles a publish without a handled notice from its owner (a plain ACK, a
   * refusal): an accepted successor, which that owner may hold for it, is sent
   * again at once, naming what is left of the lane.
   */
  private settleApart(id: U64, done: boolean): boolean {
    const next = this.entries.get(id)?.next;
    if (!this.settle(id, done)) return false;
    if (next?.accepted === true && this.entries.has(next.id)) this.transmit(next);
    return true;
  }

  private admitWaiting(): void {
    const { maxInFlightForwards } = this.host.options;
    while (this.entries.size < maxInFlightForwards && this.waiting.length > 0) {
      const w = this.waiting.shift()!;
      this.admit(w.msg, w.partition, w.resolve, w.reject);
    }
  }

  private notifyDrained(): void {
    if (this.inFlight > 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private heard(entry: Entry, now = this.host.options.clock.now()): void {
    if (entry.owner === undefined) return;
    this.lastHeard.set(entry.ownerText, now);
    if (this.notice !== undefined) this.routes.learn(entry.ownerText, this.notice.batchTo);
  }

  private heardWithin(owner: string, ms: number): boolean {
    const at = this.lastHeard.get(owner);
    return at !== undefined && this.host.options.clock.now() - at < ms;
  }

  /** Every ackTimeout while publishes are unsettled: see the class comment. */
  private watch(): void {
    this.watchTimer = undefined;
    const { ackTimeout, clock } = this.host.options;
    const now = clock.now();
    const due = new Map<string, Entry[]>();
    for (const entry of this.entries.inOrder()) {
      const waited = now - entry.since;
      if (entry.owner === undefined || waited < ackTimeout) continue;
      // Accepted, and its owner speaks: the handled notice is on its way (a backlog), unless it waited very long.
      if (entry.accepted && waited < ACK_PATIENCE * ackTimeout && this.heardWithin(entry.ownerText, ackTimeout)) continue;
      const list = due.get(entry.ownerText);
      if (list === undefined) due.set(entry.ownerText, [entry]);
      else list.push(entry);
    }
    for (const [text, list] of due) {
      const owner = list[0].owner!;
      if (this.heardWithin(text, ackTimeout)) this.retry(owner, list);
      else if (!this.probing.has(text)) {
        this.probing.add(text);
        this.host
          .probe(owner)
          .then((alive) => {
            this.probing.delete(text);
            if (alive === true) this.retry(owner, list);
            else this.ownerDead(owner);
          })
          .catch((error: unknown) => this.host.contain(error, 'publish probe'));
      }
    }
    if (this.entries.size > 0) this.watchTimer = clock.setTimeout(() => this.watch(), ackTimeout);
  }

  /** `owner` is alive: its overdue publishes go to it again; one unaccepted for ACK_PATIENCE tries moves on. */
  private retry(owner: Key, overdue: readonly Entry[]): void {
    // Still unsettled and still at that owner (a probe answer comes later).
    const text = owner.toString();
    const due = overdue.filter((entry) => entry.owner !== undefined && entry.ownerText === text && this.entries.has(entry.id));
    if (due.some((entry) => !entry.accepted && entry.tries >= ACK_PATIENCE)) {
      this.ownerDead(owner);
      return;
    }
    this.host.counters.retried += due.length;
    for (const entry of due) this.transmit(entry);
  }

  /** `owner` is gone: suspected, and its unsettled publishes go to the new owners in publish order. */
  private ownerDead(owner: Key): void {
    const text = owner.toString();
    this.host.suspect(owner);
    this.lastHeard.delete(text);
    this.routes.forget(text);
    const moving: Entry[] = [];
    for (const entry of this.entries.inOrder()) if (entry.owner !== undefined && entry.ownerText === text) moving.push(entry);
    if (moving.length === 0) return;
    this.host.counters.timedOut += moving.length;
    const held = this.lanes.drop(moving);
    for (const entry of moving) entry.owner = undefined;
    for (const entry of moving) this.route(entry);
    for (const entry of held) if (this.entries.has(entry.id)) this.route(entry);
  }
}

/** The entry's message: kept until the first send, then decoded from the FWD sent (views into it). */
function messageOf(entry: Entry): MsgPayload {
  if (entry.msg !== undefined) return entry.msg;
  const { msg } = decodeFrame(entry.wire!) as FwdFrame;
  msg.headers = entry.headers;
  return msg;
}
