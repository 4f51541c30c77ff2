import type { U64 } from './bytes';
import { FlowError, OverloadedError } from './errors';
import { Fifo } from './fifo';
import { InFlightTable } from './in-flight-table';
import { AckFrame, ErrFrame, FrameType, FwdFrame, MsgPayload } from './frame';
import { Key, keyFromBytes } from './key';
import { ForwardRoutes } from './forward-batches';
import { type BatchTarget, encodePublishFwd, Notice, PublishFlags, readNotice, retrailPublishFwd } from './publish-wire';
import { PublishLanes } from './publish-lanes';
import { publishHere } from './publish-here';
import { PublishRecovery } from './publish-recovery';
import { Entry, messageOf, newEntry, PublisherHost, Waiting } from './publisher-host';
import { ViewWait } from './view-wait';

export type { PublisherHost } from './publisher-host';

/**
 * Direct publishing (docs/PROTOCOL.md, "Direct publishing"): a keyed message
 * goes straight to its owner's node subject as a FWD whose `ackTo` is this broker.
 *
 * With acknowledgement, publish() resolves when the owner accepted the message
 * (an 'FNOT' notice from a Flow owner, a plain ACK from a Go owner or a Flow
 * broker that relays it), and the message stays here until the owner reports
 * it handled or refuses it; a watch round every ackTimeout probes silent
 * owners, sends overdue messages again and moves a dead owner's
 * (publish-recovery.ts). At most `maxInFlightForwards` such messages are kept;
 * further publishes wait in order (at most `maxQueuedMessages`, then FLOW_OVERLOADED).
 *
 * Per-key order (docs/PROTOCOL.md, "Order"): messages of one partition lane go
 * to one owner at a time. While any of them is unsettled, later ones wait when
 * the lane's owner has changed, so a new owner only starts after the old one
 * handled everything it had. To the same owner they go at once, each naming the
 * lane's previous unsettled message (its predecessor, recomputed at every send):
 * the owner holds one whose predecessor it has not queued (a lost or late FWD)
 * until the retry brings it (lane-order.ts), and a predecessor settled meanwhile
 * (refused, handed on) is no longer named, so no gap waits for ever. A dead
 * owner's unhandled messages move in publish order. Retries keep their id: an
 * owner that sees one again answers from its duplicate window.
 *
 * A publisher-only broker whose first view question is outstanding (at start,
 * or after a member's JOIN while it knows nothing) keeps keyed publishes until
 * the answer (an ackTimeout per question, ring-view.ts), so they go direct, in
 * order, rather than through the queue group (view-wait.ts).
 */
export class Publisher {
  private readonly entries: InFlightTable<Entry>;
  private readonly lanes = new PublishLanes();
  private readonly waiting = new Fifo<Waiting>();
  /** Keyed publishes made while the view is awaited. */
  private readonly early: ViewWait;
  private readonly lastHeard = new Map<string, number>();
  private readonly recovery: PublishRecovery;
  private watchTimer: unknown;
  private drainWaiters: (() => void)[] = [];
  /** FWDs go batched to owners whose notices say they take batches (forward-batches.ts). */
  private readonly routes: ForwardRoutes;
  /** The notice being read. */
  private notice: Notice | undefined;
  /** The owner last heard from while reading `notice`: its ids mostly share one, recorded once (heard). */
  private noticeHeard: string | undefined;
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
    this.recovery = new PublishRecovery({
      ...{ host, entries: this.entries, lanes: this.lanes, routes: this.routes, lastHeard: this.lastHeard },
      ...{ route: (entry) => this.route(entry), transmit: (entry) => this.transmit(entry), heard: (entry) => this.heard(entry) },
      settleApart: (id, done) => this.settleApart(id, done),
    });
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
      this.notice = this.noticeHeard = undefined;
      return true;
    }
    // A Go owner's ACK, or a Flow broker's that relays the message: accepted, and nothing follows.
    return this.settleApart(frame.id, true);
  }

  /** An ERR for one of our publishes: the owner refused it (no handler, overload); `refuser`: the broker it names. */
  onErr(frame: ErrFrame, refuser?: BatchTarget): boolean {
    return this.recovery.refused(frame, refuser);
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
    if (owner === undefined) {
      // No view any more: handed on, settled here.
      this.settle(entry.id, false);
      this.host.viaQueueGroup(messageOf(entry));
      entry.resolve?.();
      return;
    }
    const ownerText = owner.toString();
    entry.owner = undefined;
    // Also when this broker owns the key: behind its lane's messages still at another owner it waits, as for any
    // owner change (seed 1769 with member publishers: node-0 took k3 over from the crashed node-2 and ran its own
    // #3 at once, before its #1, which node-2 had held, was moved).
    if (!this.lanes.open(entry, ownerText)) return;
    entry.owner = owner;
    entry.ownerText = ownerText;
    if (this.host.isLocal(owner)) {
      // Queued here first, then settled: what waits behind it in its lane goes after it.
      publishHere(this.host, entry);
      this.settle(entry.id, false);
      return;
    }
    entry.tries = 0;
    this.transmit(entry);
  }

  /**
   * Sends `entry` to its owner, naming the lane's previous unsettled message
   * and this publisher's floor (publish-wire.ts, flag Floor); the first send
   * encodes it for good. A resend may carry an older floor: lower, so it
   * retires less in the owner's duplicate window, never more.
   */
  private transmit(entry: Entry): void {
    const { allocate, options } = this.host;
    entry.since = options.clock.now();
    entry.tries++;
    const after = entry.prev?.id;
    const first = entry.msg !== undefined;
    if (entry.msg !== undefined) {
      const fwd: FwdFrame = { type: FrameType.Fwd, id: entry.id, ackTo: options.nodeKey, msg: entry.msg };
      entry.wire = encodePublishFwd(fwd, PublishFlags.Notices, allocate, after, this.entries.lowest());
      entry.msg = undefined;
    } else if (after !== entry.wireAfter) {
      entry.wire = retrailPublishFwd(entry.wire!, PublishFlags.Notices, allocate, after, this.entries.lowest());
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
    if (this.routes.shouldAsk(ownerText, id, options.clock, options.ackTimeout)) flags |= PublishFlags.AskBatches;
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
   * Settles a publish without a handled notice from its owner (a plain ACK:
   * `done`, a refusal): after a refusal its successor, which that owner may
   * hold for it (unanswered), is sent again at once, naming what is left of
   * the lane. Not after a plain ACK, a Go owner's, unless accepted: Go holds
   * nothing and runs every copy it gets.
   */
  private settleApart(id: U64, done: boolean): boolean {
    const next = this.entries.get(id)?.next;
    if (!this.settle(id, done)) return false;
    if (next !== undefined && (!done || next.accepted) && this.entries.has(next.id)) this.transmit(next);
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
    if (this.notice === undefined) {
      this.lastHeard.set(entry.ownerText, now);
      return;
    }
    // Within one notice (one `now`, one batchTo), an owner recorded already needs nothing more.
    if (entry.ownerText === this.noticeHeard) return;
    this.noticeHeard = entry.ownerText;
    this.lastHeard.set(entry.ownerText, now);
    this.routes.learn(entry.ownerText, this.notice.batchTo);
  }

  /** Every ackTimeout while publishes are unsettled (publish-recovery.ts); a round that admitted a waiting publish armed the next already. */
  private watch(): void {
    this.watchTimer = undefined;
    this.recovery.watch();
    if (this.entries.size > 0) this.watchTimer ??= this.host.options.clock.setTimeout(() => this.watch(), this.host.options.ackTimeout);
  }
}
