import { BrokerCounters } from './broker-counters';
import { Delivery, MessageHandler, RequestHandler } from './delivery';
import { ErrorCode, FlowError, OverloadedError, TransportError } from './errors';
import { asFlowError, errorReply } from './error-reply';
import { Allocate, encodeFrame, Frame, FrameType, MsgPayload } from './frame';
import { NO_BYTES } from './bytes';
import { BrokerLoad, HandlerTrace } from './instrumentation';
import { Key } from './key';
import { ResolvedBrokerOptions } from './options';
import type { Ownership } from './ownership';
import { partitionLane, PartitionScheduler, type Task } from './partition-scheduler';
import { headerBytes, MessageHeaders } from './pubsub';

export interface HandlerEntry {
  readonly kind: 'message' | 'request';
  readonly handler: MessageHandler | RequestHandler;
}

/** What the dispatcher needs from its broker. */
export interface DispatcherHost {
  readonly options: ResolvedBrokerOptions;
  readonly counters: BrokerCounters;
  readonly allocate: Allocate;
  /** Epochs of the owned ranges (ownership.ts). */
  readonly ownership: Ownership;
  /** Publishes a reply frame; false once the broker is closed (the reply is then discarded). */
  sendReply(subject: string, frame: Uint8Array, headers: MessageHeaders | undefined): boolean;
  /** The transport's max payload (PubSub.maxPayload): a larger reply is answered with an error instead. */
  maxPayload(): number | undefined;
  /** Gives up on a message (counted, reported, error reply for a request). */
  drop(msg: MsgPayload, error: FlowError): void;
  reportError(error: FlowError): void;
  /** Takes a keyed message that must wait for a previous owner (handoff.ts); false lets it run. */
  hold(msg: MsgPayload, partition: Key): boolean;
}

/**
 * Runs the handlers of the messages this broker owns: looks the handler up,
 * queues the message in its partition key's lane (or its slot's, with
 * synchronous partitions), runs it, and sends the reply of a request.
 */
export class Dispatcher {
  private readonly handlers = new Map<string, HandlerEntry>();
  private readonly scheduler: PartitionScheduler;

  constructor(private readonly host: DispatcherHost) {
    const { concurrency, maxQueuedMessages, instrumentation, clock } = host.options;
    this.scheduler = new PartitionScheduler(
      concurrency,
      maxQueuedMessages,
      (error) => host.reportError(asFlowError(error, 'handler', ErrorCode.Handler)),
      instrumentation?.timesQueue === true ? () => clock.now() : undefined,
    );
  }

  get streams(): IterableIterator<string> {
    return this.handlers.keys();
  }

  get size(): number {
    return this.handlers.size;
  }

  /** Handlers running or waiting. */
  get inFlight(): number {
    return this.scheduler.active + this.scheduler.queued;
  }

  /** The handlers' share of the broker's load, plus the forwarder's, the acceptor's and the publisher's counts. */
  load(forwardsInFlight: number, publishesRemembered: number, publishesUnsettled: number): BrokerLoad {
    return {
      publishesRemembered,
      publishesUnsettled,
      handlersRunning: this.scheduler.active,
      handlersQueued: this.scheduler.queued,
      forwardsInFlight,
      oldestQueuedMs: this.scheduler.oldestQueuedAge(this.host.options.clock.now()),
    };
  }

  /** Every handled stream with its kind (for view answers). */
  kinds(): Map<string, HandlerEntry['kind']> {
    return new Map([...this.handlers].map(([stream, entry]) => [stream, entry.kind]));
  }

  kindOf(stream: string): HandlerEntry['kind'] | undefined {
    return this.handlers.get(stream)?.kind;
  }

  add(stream: string, entry: HandlerEntry): void {
    this.handlers.set(stream, entry);
  }

  /** Resolves once no handler runs or waits (graceful-shutdown.ts's Drainable). */
  drained(): Promise<void> {
    return this.scheduler.idle();
  }

  /** Lanes with work queued or running (see PartitionScheduler.busyLanes). */
  busyLanes(): number[] {
    return this.scheduler.busyLanes();
  }

  /** Starts no handler until resume(): messages wait in their lanes (PartitionScheduler.pause). */
  pause(): void {
    this.scheduler.pause();
  }

  resume(): void {
    this.scheduler.resume();
  }

  /**
   * The messages waiting for their handlers, taken back (each lane's in its
   * order); their handler traces end with `why`. Running ones stay.
   */
  takeWaiting(why: FlowError): MsgPayload[] {
    return this.scheduler.takeWaiting().map((task) => (task as Run).takeBack(why));
  }

  /** Told when a busy lane drains. */
  onLaneIdle(listener: (lane: number) => void): void {
    this.scheduler.onLaneIdle = listener;
  }

  /** Queues `msg`, owned here by position `owner`, for its handler. */
  dispatch(msg: MsgPayload, partition: Key | undefined, owner: Key, clique: string): void {
    const isRequest = msg.reply.length > 0;
    const entry = this.handlers.get(msg.stream);
    if (entry === undefined || (entry.kind === 'request') !== isRequest) {
      const kind = isRequest ? 'request' : 'message';
      this.host.drop(msg, new FlowError(ErrorCode.NoHandler, `no ${kind} handler for stream "${msg.stream}"`));
      return;
    }
    if (partition !== undefined && this.host.hold(msg, partition)) return;
    const { syncPartitions } = this.host.options;
    const slot = partition !== undefined && syncPartitions > 0 ? partition.mod(syncPartitions) : undefined;
    const delivery: Delivery = {
      stream: msg.stream,
      partitionKey: msg.partitionKey,
      partition,
      data: msg.data,
      slot,
      owner,
      nodeKey: this.host.options.nodeKey,
      clique,
      request: isRequest,
      epoch: this.host.ownership.epochOf(partition),
      ownership: this.host.ownership,
    };
    // One lane per partition hash (partitionLane), or per slot when slots are on.
    const lane = slot ?? (partition === undefined ? undefined : partitionLane(partition));
    const trace = this.host.options.instrumentation?.handle(delivery, msg.headers);
    const task = isRequest
      ? new RequestRun(this.host, entry.handler as RequestHandler, delivery, msg, trace)
      : new MessageRun(this.host, entry.handler as MessageHandler, delivery, msg, trace);
    if (!this.scheduler.submit(lane, task)) {
      const error = new OverloadedError('maxQueuedMessages', this.host.options.maxQueuedMessages);
      trace?.end(error);
      this.host.drop(msg, error);
    }
  }
}

/** A task of this dispatcher's: its message can be taken back before it runs. */
interface Run extends Task {
  /** The message, its trace ended with `why`. */
  takeBack(why: FlowError): MsgPayload;
}

/**
 * A message's run in the scheduler: calls its handler, and hears from the
 * scheduler how it ended (one object per message; an asynchronous handler's
 * promise gets the scheduler's reaction only).
 */
class MessageRun implements Run {
  constructor(
    private readonly host: DispatcherHost,
    private readonly handler: MessageHandler,
    private readonly delivery: Delivery,
    private readonly msg: MsgPayload,
    private readonly trace: HandlerTrace | undefined,
  ) {}

  takeBack(why: FlowError): MsgPayload {
    this.trace?.end(why);
    return this.msg;
  }

  run(): void | PromiseLike<void> {
    const { handler, delivery, trace } = this;
    return trace === undefined ? handler(delivery) : trace.run(() => handler(delivery));
  }

  done(): void {
    const { settle } = this.msg;
    this.host.counters.handled++;
    this.trace?.end();
    settle?.();
  }

  failed(error: unknown): void {
    const { settle } = this.msg;
    this.host.counters.failed++;
    this.trace?.end(error);
    settle?.();
    this.host.reportError(asFlowError(error, `handler of stream "${this.delivery.stream}"`, ErrorCode.Handler));
  }
}

/** A request's run in the scheduler: calls its handler, and answers the requester with its reply or error. */
class RequestRun implements Run {
  constructor(
    private readonly host: DispatcherHost,
    private readonly handler: RequestHandler,
    private readonly delivery: Delivery,
    private readonly msg: MsgPayload,
    private readonly trace: HandlerTrace | undefined,
  ) {}

  takeBack(why: FlowError): MsgPayload {
    this.trace?.end(why);
    return this.msg;
  }

  run(): Uint8Array | PromiseLike<Uint8Array> {
    const { handler, delivery, trace } = this;
    return trace === undefined ? handler(delivery) : trace.run(() => handler(delivery));
  }

  done(reply: unknown): void {
    this.host.counters.handled++;
    this.trace?.end();
    this.answer({ type: FrameType.Ack, id: this.msg.id, data: (reply as Uint8Array | undefined) ?? NO_BYTES });
  }

  failed(error: unknown): void {
    this.host.counters.failed++;
    this.trace?.end(error);
    this.answer(errorReply(this.msg.id, error));
  }

  private answer(frame: Frame): void {
    const { host, msg, trace } = this;
    let bytes = encodeFrame(frame, host.allocate);
    const limit = host.maxPayload();
    const size = bytes.length + headerBytes(trace?.replyHeaders);
    if (limit !== undefined && size > limit) {
      // The transport would refuse it, and the requester wait for its timeout: it hears why instead.
      const error = new TransportError(`reply of stream "${this.delivery.stream}" is ${size} bytes as a frame, above the max payload of ${limit}`);
      host.reportError(error);
      bytes = encodeFrame(errorReply(msg.id, error), host.allocate);
    }
    host.sendReply(msg.reply, bytes, trace?.replyHeaders);
  }
}
