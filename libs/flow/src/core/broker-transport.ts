import { asFlowError } from './error-reply';
import { ErrorCode, FlowError, TransportError } from './errors';
import { encodeFrame, FrameType, MsgPayload } from './frame';
import type { Key } from './key';
import { bytesAbove } from './publish-wire';
import type { MessageHeaders, PubSub } from './pubsub';
import type { NodeSubjects } from './subjects';

/**
 * A broker's use of its PubSub: sends that count and report a failure instead
 * of throwing (a send fails when the transport is closed or refuses a frame;
 * the broker's protocol recovers from a lost frame), liveness probes by
 * subscriber check, requests that hear "no responders", and the max payload
 * check of outgoing messages. The PubSub belongs to the broker's caller:
 * nothing here closes it.
 */
export class BrokerTransport {
  /** What a liveness probe delivers to a live member: a PING it answers with INFO. Built once. */
  private readonly probePing: Uint8Array;

  constructor(
    private readonly pubsub: PubSub,
    private readonly nodeSubjects: NodeSubjects,
    nodeKey: Key,
    private readonly ackTimeout: number,
    /** Rate-limited reporting of transport failures (the broker's ErrorReporter). */
    private readonly report: (kind: string, error: FlowError) => void,
  ) {
    this.probePing = encodeFrame({ type: FrameType.Ping, id: 0, sender: nodeKey });
  }

  /** Publishes `frame`; false (counted and reported) when the transport refused it. */
  send(subject: string, frame: Uint8Array, headers?: MessageHeaders): boolean {
    try {
      this.pubsub.publish(subject, frame, headers);
      return true;
    } catch (error) {
      this.report('publish', asFlowError(error, `publish to ${subject}`, ErrorCode.Transport));
      return false;
    }
  }

  /** Whether `key`'s node subject still has a subscriber (see probePing); undefined when the transport cannot tell. */
  probe(key: Key): Promise<boolean | undefined> {
    if (this.pubsub.hasSubscribers === undefined) return Promise.resolve(undefined);
    return this.pubsub.hasSubscribers(this.nodeSubjects.of(key), this.probePing, this.ackTimeout).catch(() => undefined);
  }

  /** Whether request() hears no-responders (the transport has publishRequest). */
  get tellsNoResponders(): boolean {
    return this.pubsub.publishRequest !== undefined;
  }

  /**
   * Publishes and listens for no-responders, and for a refusal when `onRefused` is given (PubSub.publishRequest),
   * where the transport can tell; returns the way to stop listening.
   */
  request(subject: string, frame: Uint8Array, onNoResponders: () => void, onRefused?: (error: FlowError) => void): () => void {
    if (this.pubsub.publishRequest !== undefined) return this.pubsub.publishRequest(subject, frame, onNoResponders, undefined, onRefused);
    this.send(subject, frame);
    return () => undefined;
  }

  /** Runs `task` once the input that has arrived by now is read (PubSub.afterInput); else as a microtask. */
  afterInput(task: () => void): void {
    if (this.pubsub.afterInput === undefined) void Promise.resolve().then(task);
    else this.pubsub.afterInput(task);
  }

  /** The transport's max payload (PubSub.maxPayload); undefined when it has none. */
  maxPayload(): number | undefined {
    return this.pubsub.maxPayload?.();
  }

  /**
   * A TransportError when `msg` could not cross the transport whole in the
   * largest frame it may travel in between brokers: it is refused where the
   * caller awaits it, rather than by the transport on a later hop, where
   * nobody would hear of it.
   */
  tooLarge(msg: MsgPayload): TransportError | undefined {
    const limit = this.maxPayload();
    const bytes = bytesAbove(limit, msg);
    if (bytes === undefined) return undefined;
    return new TransportError(
      `message on "${msg.stream}" does not fit the transport: its ${msg.data.length} bytes of data take ${bytes} bytes as a frame between brokers, above the max payload of ${limit}`,
    );
  }
}
