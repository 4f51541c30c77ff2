import type { Acceptor } from './acceptor';
import { BrokerCounters, newCounters } from './broker-counters';
import { BrokerTransport } from './broker-transport';
import { Delivery, MessageHandler, PublishOptions, RequestHandler, RequestOptions } from './delivery';
import { Dispatcher, HandlerEntry } from './dispatcher';
import { Emitter } from './emitter';
import { Forwarder } from './forwarder';
import { drainAndClose } from './graceful-shutdown';
import { Handoff } from './handoff';
import { Identity, IdentityEvents } from './identity';
import { asFlowError, errorReply } from './error-reply';
import { AbortedError, ClosedError, ErrorCode, FlowError, InvalidOptionError } from './errors';
import { ErrorReporter } from './error-reporter';
import { encodeFrame, FrameType, MsgPayload } from './frame';
import { guardedClock } from './guarded-clock';
import { Inbound } from './inbound';
import { Key, keyFromBytes, randomKey } from './key';
import { Membership, MembershipEvents } from './membership';
import { BrokerOptions, integerOption, LIMITS, ResolvedBrokerOptions, resolveBrokerOptions } from './options';
import { RingSnapshot } from './ring-snapshot';
import { PendingReplies } from './pending-replies';
import { ReconnectFence } from './reconnect-fence';
import { directPublishing } from './direct-publishing';
import type { Publisher } from './publisher';
import { viewSubject } from './publish-wire';
import { RingView } from './ring-view';
import { Ownership, OwnershipEvents } from './ownership';
import { BrokerLoad, traceReply } from './instrumentation';
import { MessageHeaders, PubSub, PubSubStatus, Subscription } from './pubsub';
import { Slab } from './slab';
import { TransportGate } from './transport-gate';
import { ringPositions } from './virtual-nodes';
import { checkHandlerStream, checkStream, nodeSubject, NodeSubjects, partitionKeyBytes } from './subjects';

export type { BrokerCounters, Delivery, MessageHandler, PublishOptions, RequestHandler, RequestOptions, RingSnapshot };

export interface BrokerEvents extends MembershipEvents, IdentityEvents, OwnershipEvents {
  status: (status: PubSubStatus) => void;
  error: (error: FlowError) => void;
}

/** 'draining': shutdown() has left the ring and waits for in-flight work; routing goes on. */
type State = 'new' | 'starting' | 'started' | 'draining' | 'closing' | 'closed';

/** Errors caused by network input: the first of a kind at once, then one summary per this many ms. */
export const ERROR_REPORT_INTERVAL = 10_000;

/**
 * A member of a clique. It speaks Go flow's protocol (PROTOCOL.md), joins
 * the ring only once it has a handler, forwards every keyed message to its
 * owner with acknowledgement, and runs handlers in per-key order.
 *
 * The PubSub belongs to the caller: `close()` stops using it but does not
 * close it.
 */
export class Broker {
  readonly options: ResolvedBrokerOptions;
  readonly nodeKey: Key;
  readonly clique: string;
  readonly identity: Identity;
  private readonly nodeSubject: string;
  private readonly events: Emitter<BrokerEvents>;
  private readonly dispatcher: Dispatcher;
  private readonly forwarder: Forwarder;
  private readonly replies: PendingReplies;
  private readonly publisher: Publisher;
  private readonly acceptor: Acceptor;
  /** A publisher's view of the ring (ring-view.ts), until it joins. */
  private view: RingView | undefined;
  private readonly gate: TransportGate;
  private readonly inbound: Inbound;
  private readonly ownership: Ownership;
  private readonly handoff: Handoff;
  private readonly fence: ReconnectFence;
  private readonly networkErrors: ErrorReporter;
  private readonly subscriptions: Subscription[] = [];
  /** This member's subscription to view questions (not in `subscriptions`: it ends when the broker leaves). */
  private viewAnswers: Subscription | undefined;
  private readonly streamSubscriptions = new Map<string, Subscription>();
  private readonly counterValues: BrokerCounters = newCounters();
  private readonly nodeSubjects: NodeSubjects;
  private membership: Membership | undefined;
  private joining: Promise<void> | undefined;
  private state: State = 'new';
  private closed: Promise<void> | undefined;
  /**
   * Ids of this instance's frames start at a random point below 2^52: owners
   * remember (node key, id) pairs in their duplicate windows, and a node
   * restarted under its name must not reuse its previous instance's ids.
   */
  private lastId = randomKey().hi * 2 ** 20;
  private removeStatusListener: (() => void) | undefined;
  /** Hot-path frames (MSG, FWD, ACK) are carved from this broker's slab. */
  private readonly slab = new Slab();
  private readonly allocate = (size: number): Uint8Array => this.slab.allocate(size);
  private readonly transport: BrokerTransport;

  constructor(
    private readonly pubsub: PubSub,
    options?: BrokerOptions,
  ) {
    const resolved = resolveBrokerOptions(options);
    // Every timer of this broker (forwards, pings, replies) contains what it throws.
    this.options = Object.freeze({ ...resolved, clock: guardedClock(resolved.clock, (error) => this.inbound.contain(error, 'timer')) });
    this.networkErrors = new ErrorReporter(resolved.clock, ERROR_REPORT_INTERVAL, (error) => this.reportError(error));
    this.nodeKey = this.options.nodeKey;
    this.clique = this.options.clique;
    this.nodeSubjects = new NodeSubjects(this.clique);
    this.nodeSubject = this.nodeSubjects.of(this.nodeKey);
    this.transport = new BrokerTransport(pubsub, this.nodeSubjects, this.nodeKey, this.options.ackTimeout, (kind, error) => this.networkErrors.report(kind, error));
    this.events = new Emitter<BrokerEvents>((error) => this.reportError(asFlowError(error, 'event listener', ErrorCode.Internal)));
    // Identity problems follow from network input too (conflict notices, members' announcements): rate limited.
    this.identity = new Identity(this.options, pubsub, this.events, (error) => this.networkErrors.report(`identity:${error.code}`, error));
    const { clock } = this.options;
    const serving = () => this.state === 'started';
    this.ownership = new Ownership({ table: () => this.membership?.table, isServing: serving, events: this.events, handoff: () => this.handoff });
    this.handoff = new Handoff({
      ...this.collaborator(),
      ...{ nodeSubjects: this.nodeSubjects, membership: () => this.membership, busyLanes: () => this.dispatcher.busyLanes() },
      ...{ route: (msg: MsgPayload) => this.route(msg), drop: (msg: MsgPayload, error: FlowError) => this.drop(msg, error) },
      report: (kind, error) => this.networkErrors.report(kind, error),
    });
    this.forwarder = new Forwarder({
      ...this.collaborator(),
      route: (msg) => this.route(msg),
      drop: (msg, error) => this.drop(msg, error),
      suspect: (key) => this.membership?.declareDead(key) ?? this.view?.forget(key) ?? false,
      readmit: (key) => this.membership?.readmit(key),
      announcementOf: (key) => this.membership?.capabilities.of(key),
      // A publisher, or a broker that left, probes by the transport's subscriber check: dead or unknown.
      probe: (key) => this.membership?.probeOwner(key) ?? this.transport.probe(key).then((up) => (up === false ? 'dead' : 'unknown')),
      silentFor: (key, ms) => this.membership?.silentFor(key, ms) ?? true,
      // Suspicions follow from network input (a crash, forged positions): rate limited.
      reportError: (error) => this.networkErrors.report(`forward:${error.code}`, error),
    });
    const { maxPendingRequests, requestTimeout } = this.options;
    this.replies = new PendingReplies(clock, maxPendingRequests, requestTimeout, (id) => this.forwarder.requestEnded(id));
    this.gate = new TransportGate(this.options.reconnectBuffer, (subject, data, headers) => this.pubsub.publish(subject, data, headers));
    this.dispatcher = new Dispatcher({
      ...this.collaborator(),
      sendReply: (subject, frame, headers) => this.state !== 'closed' && this.transport.send(subject, frame, headers),
      drop: (msg, error) => this.drop(msg, error),
      reportError: (error) => this.reportError(error),
      hold: (msg, partition) => this.handoff.admit(msg, partition),
    });
    this.dispatcher.onLaneIdle((lane) => this.handoff.laneIdle(lane));
    this.fence = new ReconnectFence(this.dispatcher, this.handoff);
    const membership = () => this.membership;
    ({ publisher: this.publisher, acceptor: this.acceptor } = directPublishing({
      ...this.collaborator(),
      ...{ nodeSubjects: this.nodeSubjects, dispatcher: this.dispatcher, forwarder: this.forwarder, membership, batchForwards: this.options.batchForwards ?? pubsub.prefersBatches === true },
      ...{ view: () => this.view, isStarted: () => this.state === 'started', route: (msg: MsgPayload) => this.route(msg) },
      ...{ linkDown: () => this.gate.isDown, linkDowns: () => this.gate.downs },
      report: (kind, error) => this.networkErrors.report(kind, error),
    }));
    this.inbound = new Inbound({
      ...this.collaborator(),
      forwarder: this.forwarder,
      replies: this.replies,
      publisher: this.publisher,
      acceptor: this.acceptor,
      view: () => this.view,
      nodeSubjects: this.nodeSubjects,
      ...{ identity: this.identity, handoff: this.handoff, membership },
      isRouting: () => this.isRouting(),
      route: (msg) => this.route(msg),
      drop: (msg, error) => this.drop(msg, error),
      report: (kind, error) => this.networkErrors.report(kind, error),
    });
  }

  /** Registers the handler of a message stream (codec-encoded messages). */
  handle(stream: string, handler: MessageHandler): Promise<void> {
    return this.register(stream, { kind: 'message', handler });
  }

  /** Registers the handler of a request stream (MSG frames); its result is the reply. */
  handleRequest(stream: string, handler: RequestHandler): Promise<void> {
    return this.register(stream, { kind: 'request', handler });
  }

  /**
   * Subscribes the node subject (for replies and acknowledgements) and, when
   * a handler is registered, joins the ring. A broker without handlers is a
   * publisher: it never joins and owns nothing. Rejects with FLOW_NODE_CONFLICT,
   * before subscribing anything, when its node key or a position is live.
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new FlowError(ErrorCode.Closed, `broker cannot start: it is ${this.state}`);
    this.state = 'starting';
    await this.identity.check([this.nodeKey]).catch((error: unknown) => this.close().then(() => Promise.reject(error)));
    this.removeStatusListener = this.pubsub.onStatus((status) => this.onStatus(status));
    this.subscriptions.push(
      this.pubsub.subscribe(this.nodeSubject, {}, (_subject, data, headers) => this.inbound.onNodeFrame(data, this.nodeKey, headers)),
    );
    this.state = 'started';
    if (this.dispatcher.size > 0) await this.join();
    else this.watchRing();
    await this.pubsub.flush();
    this.view?.start();
  }

  /**
   * Publishes a message on a message stream. A keyed one goes direct to its owner
   * once this broker knows the ring (publisher.ts): it resolves when the owner
   * accepted it (`ack: false`: once sent), waiting while the window is full. Else
   * it resolves once handed to the transport (down: see TransportGate). Rejects
   * for a bad stream or key, a closed broker, or an owner's refusal (FlowError).
   */
  publish(stream: string, data: Uint8Array, options: PublishOptions = {}): Promise<void> {
    try {
      this.assertUsable();
      checkStream(stream);
      const partitionKey = partitionKeyBytes(options.key, this.allocate);
      const headers = this.options.instrumentation?.publish(stream, partitionKey, data.length);
      const msg: MsgPayload = { id: 0, reply: '', stream, partitionKey, data, headers };
      const tooLarge = this.transport.tooLarge(msg);
      if (tooLarge !== undefined) throw tooLarge;
      const direct = this.gate.isDown ? undefined : this.publisher.publish(msg, options.ack !== false);
      if (direct !== undefined) return direct;
      // Counted when it goes (or is held to go) through the queue group, not when the gate rejects it.
      if (partitionKey.length > 0 && this.gate.takes) this.counterValues.viaQueueGroup++;
      return this.gate.publish(stream, this.options.codec.encode(msg), headers);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  request(stream: string, data: Uint8Array, options: RequestOptions = {}): Promise<Uint8Array> {
    try {
      this.assertUsable();
      checkStream(stream);
      const timeout = integerOption('timeout', options.timeout, this.options.requestTimeout, 1, LIMITS.timeoutMs);
      const { signal } = options;
      if (signal?.aborted) throw new AbortedError(`request on "${stream}"`, signal.reason);
      this.gate.check('request', stream);
      const id = this.nextId();
      const msg: MsgPayload = { id, reply: this.nodeSubject, stream, partitionKey: partitionKeyBytes(options.key, this.allocate), data };
      const trace = this.options.instrumentation?.request(stream, msg.partitionKey, data.length);
      msg.headers = trace?.headers;
      const tooLarge = this.transport.tooLarge(msg);
      if (tooLarge !== undefined) {
        trace?.end(tooLarge);
        throw tooLarge;
      }
      const reply = this.replies.await(id, stream, timeout, signal);
      // Refused at maxPendingRequests: nothing goes out, direct or not (a keyed one went to its owner and ran).
      if (this.replies.isPending(id) && (msg.partitionKey.length === 0 || !this.publisher.request(msg))) {
        if (msg.partitionKey.length > 0) this.counterValues.viaQueueGroup++;
        this.replies.publish(this.pubsub, id, stream, encodeFrame({ type: FrameType.Msg, msg }, this.allocate), trace?.headers);
      }
      return trace === undefined ? reply : traceReply(reply, trace);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The position that owns `partitionKey` in this broker's view; undefined until joined. */
  ownerOf(partitionKey: string | Uint8Array): Key | undefined {
    return this.membership?.table.ownerOf(keyFromBytes(partitionKeyBytes(partitionKey), this.options.partitionHash));
  }

  snapshot(): RingSnapshot {
    const membership = this.membership;
    return Object.freeze({
      clique: this.clique,
      nodeKey: this.nodeKey,
      positions: membership?.positions ?? [],
      members: membership?.table.members() ?? this.view?.members() ?? [],
      joined: membership !== undefined && this.state === 'started',
    });
  }

  get counters(): Readonly<BrokerCounters> {
    return { ...this.counterValues };
  }

  /** Handlers running or waiting. */
  get inFlight(): number {
    return this.dispatcher.inFlight;
  }

  /** Work in progress, for metrics; computed on each read. */
  get load(): BrokerLoad {
    return this.dispatcher.load(this.forwarder.inFlight, this.acceptor.remembered, this.publisher.inFlight);
  }

  on<E extends keyof BrokerEvents>(event: E, listener: BrokerEvents[E]): () => void {
    return this.events.on(event, listener);
  }

  /**
   * Leaves the ring, stops all subscriptions and fails everything pending with
   * FLOW_CLOSED, messages waiting for their handlers too (dropped: their
   * publishers send them on). Handlers already running finish on their own;
   * their replies are not sent. Idempotent.
   */
  close(): Promise<void> {
    if (this.closed === undefined) this.closed = this.closeNow();
    return this.closed;
  }

  /**
   * Leaves the ring and stops taking messages, then waits for running and
   * queued handlers and outstanding forwards, at most `timeout` ms, and
   * closes. Rejects with FLOW_TIMEOUT when work was still in flight.
   */
  async shutdown(options: { timeout?: number } = {}): Promise<void> {
    const timeout = options.timeout ?? 10_000;
    if (this.closed !== undefined || this.state === 'new') return this.close();
    this.state = 'draining';
    this.membership?.leave();
    // The view question goes to one member of the queue group: not to one that would list itself.
    this.stopAnsweringViews();
    // Our keys route to the members that take them over; they wait for what still runs here (handoff.ts).
    this.membership?.table.retire();
    this.handoff.retire();
    const streams = [...this.streamSubscriptions.values()];
    this.streamSubscriptions.clear();
    const { clock } = this.options;
    const work = [this.dispatcher, this.forwarder, this.publisher];
    const host = { clock, streams, work, isClosed: () => this.closed !== undefined, close: () => this.close() };
    return drainAndClose({ ...host, releaseAll: () => this.ownership.releaseAll(), reportError: (error) => this.reportError(error) }, timeout);
  }

  private stopAnsweringViews(): void {
    this.viewAnswers?.unsubscribe();
    this.viewAnswers = undefined;
  }

  private async closeNow(): Promise<void> {
    this.acceptor.flushNow();
    const wasJoined = this.membership !== undefined;
    this.state = 'closing';
    this.membership?.leave();
    for (const subscription of this.streamSubscriptions.values()) subscription.unsubscribe();
    this.streamSubscriptions.clear();
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
    this.stopAnsweringViews();
    this.removeStatusListener?.();
    const closed = new ClosedError();
    // Not run here: whoever keeps it sends it to the next owner (seed 73214: refused there, yet run here).
    for (const msg of this.dispatcher.takeWaiting(closed)) this.drop(msg, closed);
    this.view?.stop();
    this.handoff.stop();
    this.forwarder.failAll(closed);
    this.publisher.failAll(closed);
    this.replies.failAll(closed);
    this.gate.failAll(closed);
    this.networkErrors.stop();
    this.state = 'closed';
    if (wasJoined) {
      // LEAV frames were handed to the transport; make sure they reach the server.
      await this.pubsub.flush().catch(() => undefined);
    }
  }

  private register(stream: string, entry: HandlerEntry): Promise<void> {
    checkHandlerStream(stream, this.clique);
    if (typeof entry.handler !== 'function') throw new InvalidOptionError('handler', 'must be a function', entry.handler);
    if (this.dispatcher.kindOf(stream) !== undefined) throw new InvalidOptionError('stream', 'already has a handler', stream);
    if (this.state === 'draining' || this.state === 'closing' || this.state === 'closed') {
      return Promise.reject(new ClosedError());
    }
    this.dispatcher.add(stream, entry);
    if (this.state !== 'started') return Promise.resolve();
    if (this.membership === undefined) return this.join();
    this.subscribeStream(stream);
    return Promise.resolve();
  }

  private join(): Promise<void> {
    this.joining ??= this.joinNow();
    return this.joining;
  }

  private async joinNow(): Promise<void> {
    const positions = ringPositions(this.nodeKey, this.options.virtualNodes);
    await this.identity.check(positions.filter((position) => !position.equals(this.nodeKey)));
    const membership = new Membership(
      {
        options: this.options,
        identity: this.identity,
        emit: (event, key) => {
          if (event === 'suspected') this.forwarder.ownerLost(key);
          this.ownership.changed();
          this.events.emit(event, key);
        },
        nextId: () => this.nextId(),
        sendTo: (key, frame) => this.transport.send(nodeSubject(this.clique, key), frame),
        maxPayload: () => this.transport.maxPayload(),
        request: (key, frame, onNoResponders) => this.transport.request(this.nodeSubjects.of(key), frame, onNoResponders),
        broadcast: (frame) => this.transport.send(this.clique, frame),
        reportError: (error) => this.networkErrors.report(`membership:${error.code}`, error),
        heardWithin: (key, ms) => this.forwarder.heardWithin(key, ms),
        joinedBy: (position) => this.forwarder.joined(position),
        probe: (key) => this.transport.probe(key),
        contain: (error, what) => this.inbound.contain(error, what),
      },
      positions,
    );
    // A view kept after joining only claims the answers to its last questions (not the membership's INFO).
    const watching = this.view !== undefined;
    this.view?.stop();
    this.membership = membership;
    // Learn the ring from a member before owning anything; answer view questions only once ours is answered.
    const answerViews = (_s: string, data: Uint8Array) => this.inbound.onViewQuestion(data);
    this.handoff.learn(this.nextId(), () => {
      // Not once the broker has left: its answer would list it (shutdown() stops an earlier one).
      if (this.state !== 'started') return;
      this.viewAnswers = this.pubsub.subscribe(viewSubject(this.clique), { queue: this.clique }, answerViews);
    });
    this.ownership.changed();
    if (!watching) this.watchRing();
    for (const position of positions) {
      if (position.equals(this.nodeKey)) continue;
      this.subscriptions.push(
        this.pubsub.subscribe(nodeSubject(this.clique, position), {}, (_subject, data, headers) => this.inbound.onNodeFrame(data, position, headers)),
      );
    }
    // Subscriptions must reach the server before the JOINs, or early INFO answers are lost.
    await this.pubsub.flush();
    membership.announce();
    for (const stream of this.dispatcher.streams) this.subscribeStream(stream);
    membership.startStabilization();
  }

  /**
   * JOIN and LEAV on the clique subject: a publisher's view until it joins, then its membership. A publisher
   * that does not route direct (directRouting false) has no use for a view: it watches nothing.
   */
  private watchRing(): void {
    if (this.membership === undefined && !this.options.directRouting) return;
    this.subscriptions.push(this.pubsub.subscribe(this.clique, {}, (_subject, data) => this.inbound.onCliqueFrame(data)));
    if (this.membership === undefined) this.view = new RingView({ ...this.collaborator(), report: (kind, error) => this.networkErrors.report(kind, error) });
  }

  /** What every collaborator gets from its broker. */
  private collaborator() {
    const { options, counterValues: counters, allocate, ownership, transport } = this;
    const send = (subject: string, frame: Uint8Array, headers?: MessageHeaders) => transport.send(subject, frame, headers);
    const contain = (error: unknown, what: string) => this.inbound.contain(error, what);
    const maxPayload = () => transport.maxPayload();
    const afterInput = (task: () => void) => transport.afterInput(task);
    const request = (subject: string, frame: Uint8Array, onNoResponders: () => void, onRefused?: (error: FlowError) => void) =>
      transport.request(subject, frame, onNoResponders, onRefused);
    const { tellsNoResponders } = transport;
    return { options, counters, allocate, ownership, send, contain, maxPayload, afterInput, request, tellsNoResponders, nextId: () => this.nextId(), probe: (key: Key) => transport.probe(key) };
  }

  private subscribeStream(stream: string): void {
    const onData =
      this.dispatcher.kindOf(stream) === 'message'
        ? (subject: string, data: Uint8Array, headers?: MessageHeaders) => this.inbound.onStreamMessage(subject, data, headers)
        : (subject: string, data: Uint8Array, headers?: MessageHeaders) => this.inbound.onStreamRequest(subject, data, headers);
    this.streamSubscriptions.set(stream, this.pubsub.subscribe(stream, { queue: this.clique }, onData));
  }

  private onStatus(status: PubSubStatus): void {
    this.gate.onStatus(status);
    this.membership?.liveness.onStatus(status);
    this.events.emit('status', status);
    // After a reconnect the others may have suspected us: announce again (JOIN is idempotent), then take our ranges back.
    if (status === 'reconnected' && this.state === 'started') this.membership?.announce();
    this.fence.onStatus(status);
  }

  /** Sends the message to its owner, or runs it here when this broker owns it. */
  private route(msg: MsgPayload): void {
    const membership = this.membership;
    if (membership === undefined || !this.isRouting()) this.drop(msg, new ClosedError());
    else if (msg.partitionKey.length === 0) this.dispatcher.dispatch(msg, undefined, this.nodeKey, this.clique);
    else {
      const partition = keyFromBytes(msg.partitionKey, this.options.partitionHash);
      const owner = membership.table.ownerOf(partition);
      if (membership.table.isLocal(owner)) this.dispatcher.dispatch(msg, partition, owner, this.clique);
      else this.forwarder.forward(msg, owner);
    }
  }

  /** Gives up on a message: requests get an error reply, messages are counted and reported. */
  private drop(msg: MsgPayload, error: FlowError): void {
    this.counterValues.dropped++;
    msg.settle?.(error);
    if (msg.reply.length > 0 && this.state !== 'closed') this.transport.send(msg.reply, encodeFrame(errorReply(msg.id, error)));
    // A flood of input can cause a flood of drops: rate limited like network errors.
    this.networkErrors.report(`drop:${error.code}`, error);
  }

  private reportError(error: FlowError): void {
    try {
      this.options.onError?.(error);
    } catch {
      // The error callback is the last stop: a failing callback has nowhere to report to.
    }
    if (this.events.hasListeners('error')) this.events.emit('error', error);
  }

  private isRouting(): boolean {
    return this.state === 'started' || this.state === 'draining';
  }

  private assertUsable(): void {
    if (this.state === 'new' || this.state === 'starting') {
      throw new FlowError(ErrorCode.Closed, 'broker is not started: await start() first');
    }
    if (!this.isRouting()) throw new ClosedError();
  }

  private nextId(): number {
    return ++this.lastId;
  }
}
