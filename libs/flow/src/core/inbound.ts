import type { BrokerCounters } from './broker-counters';
import type { StreamMessage } from './codec';
import { asFlowError } from './error-reply';
import { ErrorCode, FlowError, ProtocolError } from './errors';
import { DecodeCache } from './decode-cache';
import { Allocate, decodeFrame, encodeAck, Frame, FrameType, MsgPayload } from './frame';
import type { Acceptor } from './acceptor';
import type { Forwarder } from './forwarder';
import type { Handoff } from './handoff';
import type { Identity } from './identity';
import type { Key } from './key';
import type { Membership } from './membership';
import type { ResolvedBrokerOptions } from './options';
import type { PendingReplies } from './pending-replies';
import { readPublishFlags, readRefuser } from './publish-wire';
import type { Publisher } from './publisher';
import type { RingView } from './ring-view';
import type { MessageHeaders } from './pubsub';
import { requestFrameIn, requestOnMessageStream, undecodableRequest } from './stream-kind';
import type { NodeSubjects } from './subjects';
import { isIdentityCheck } from './twin-probe';
import { forEachBatched, isForwardBatch } from './forward-batches';

/** What inbound handling needs from its broker. */
export interface InboundHost {
  readonly options: ResolvedBrokerOptions;
  readonly counters: BrokerCounters;
  readonly allocate: Allocate;
  readonly forwarder: Forwarder;
  readonly replies: PendingReplies;
  readonly publisher: Publisher;
  readonly acceptor: Acceptor;
  readonly nodeSubjects: NodeSubjects;
  readonly identity: Identity;
  readonly handoff: Handoff;
  /** The joined broker's membership; undefined while it owns nothing. */
  membership(): Membership | undefined;
  /** A publisher's view of the ring (stopped once joined); undefined for a broker that started with handlers. */
  view(): RingView | undefined;
  /** Started or draining: forwards are still taken. */
  isRouting(): boolean;
  route(msg: MsgPayload): void;
  drop(msg: MsgPayload, error: FlowError): void;
  send(subject: string, frame: Uint8Array): void;
  /** Reports an error caused by network input, rate limited per kind. */
  report(kind: string, error: FlowError): void;
}

/**
 * Everything a broker receives from the network, by subject: stream messages,
 * requests, clique frames and node frames. The input-robustness boundary: each
 * entry point contains what goes wrong below it. Undecodable input counts as
 * `malformed`, anything thrown while acting on decoded input as `contained`;
 * both are reported through the rate-limited reporter and the broker carries on.
 */
export class Inbound {
  /** This broker's own: incoming frames reuse its stream names and senders. */
  private readonly decodeCache = new DecodeCache();

  constructor(private readonly host: InboundHost) {}

  /** `headers`: the message's transport headers (trace context), carried with it to the owner. */
  onStreamMessage(subject: string, data: Uint8Array, headers?: MessageHeaders): void {
    this.host.counters.received++;
    let message: StreamMessage;
    try {
      message = this.host.options.codec.decode(subject, data);
    } catch (error) {
      // A request sent to a message stream hears why, instead of a decoding error.
      const request = requestFrameIn(data);
      if (request === undefined) this.malformed(error, 'stream message');
      else this.guard('stream message', () => this.host.drop(request, requestOnMessageStream(subject)));
      return;
    }
    this.guard('stream message', () =>
      this.host.route({ id: 0, reply: '', stream: message.stream, partitionKey: message.partitionKey, data: message.data, headers }),
    );
  }

  onStreamRequest(subject: string, data: Uint8Array, headers?: MessageHeaders): void {
    this.host.counters.received++;
    const frame = this.decode(data, (error) => undecodableRequest(subject, data, this.host.options.codec, error));
    if (frame === undefined) return;
    if (frame.type !== FrameType.Msg) {
      this.malformed(new ProtocolError(frame.type, 'expected a MSG frame on a request stream'), 'request');
      return;
    }
    if (headers !== undefined) frame.msg.headers = headers;
    this.guard('request', () => this.host.route(frame.msg));
  }

  onCliqueFrame(data: Uint8Array): void {
    const frame = this.decode(data);
    if (frame === undefined) return;
    if (frame.type === FrameType.Join || frame.type === FrameType.Leave) {
      this.guard('clique frame', () => (this.host.membership() ?? this.host.view())?.onCliqueFrame(frame, data));
    } else {
      this.malformed(new ProtocolError(frame.type, 'unexpected on the clique subject'), 'clique frame');
    }
  }

  /** A publisher's question on `<clique>.view` (publish-wire.ts). */
  onViewQuestion(data: Uint8Array): void {
    this.guard('view question', () => this.host.acceptor.onViewQuestion(data));
  }

  /** A frame on one of our node subjects; `at` is the key of that subject. */
  onNodeFrame(data: Uint8Array, at: Key, headers?: MessageHeaders): void {
    if (isForwardBatch(data)) return this.onBatch(data, at, headers);
    const frame = this.decode(data);
    if (frame === undefined) return;
    // guard() inlined: this is every forward's and notice's path, and a closure per frame is garbage.
    try {
      this.onNode(frame, at, data, headers);
    } catch (error) {
      this.contain(error, 'node frame');
    }
  }

  /** A publisher's forward batch (forward-batches.ts): each frame as if it came alone; a malformed rest is dropped. */
  private onBatch(data: Uint8Array, at: Key, headers: MessageHeaders | undefined): void {
    try {
      forEachBatched(data, (frame) => this.onNodeFrame(frame, at, headers));
    } catch (error) {
      this.malformed(error, 'forward batch');
    }
  }

  /** Counts and reports something thrown while acting on network input (a timer's or probe's work included). */
  contain(error: unknown, what: string): void {
    this.host.counters.contained++;
    const flowError = asFlowError(error, what, ErrorCode.Internal);
    this.host.report(`${flowError.code}:${what}`, flowError);
  }

  /** `data` is the whole message: capability announcements follow the frame's payload. */
  private onNode(frame: Frame, at: Key, data: Uint8Array, headers: MessageHeaders | undefined): void {
    const { host } = this;
    switch (frame.type) {
      case FrameType.Ack:
        // Id 0 is never a forward's: a handoff query or answer (handoff-wire.ts), or a notice (forwards, publishes).
        if (frame.id === 0 && host.membership() !== undefined && host.handoff.onAck(data)) return;
        if (host.forwarder.onAck(frame.id, data)) host.counters.acked++;
        else if (!host.publisher.onAck(frame, data)) host.replies.onAck(frame);
        return;
      case FrameType.Err: {
        // An owner's refusal of a member's forward (the forwarder counts it), of a publish, or of a request.
        const refuser = readRefuser(data);
        if (!host.forwarder.onErr(frame, refuser) && !host.publisher.onErr(frame, refuser)) host.replies.onErr(frame);
        return;
      }
      case FrameType.Fwd: {
        // Closing: no ACK, so the sender routes the message to the next owner.
        if (!host.isRouting()) return;
        // Left and draining: the sender's view still lists us (membership.ts, remindLeft).
        host.membership()?.remindLeft();
        if (headers !== undefined) frame.msg.headers = headers;
        // A Flow publisher's direct FWD (publish-wire.ts): accepted/handled notices instead of one ACK.
        // Not joined (a restarted node whose old positions a stale view still lists, a publisher): no ACK,
        // so the sender keeps the message and moves it to the next owner; an ACK here would lose it.
        if (host.membership() === undefined) {
          host.report('forward:FLOW_NO_HANDLER', new FlowError(ErrorCode.NoHandler, 'forward received by a broker that owns nothing: not acknowledged'));
          return;
        }
        const flags = readPublishFlags(data);
        if (flags !== undefined) return host.acceptor.onForward(frame, flags, data);
        // Acknowledge on receipt, as Go flow does, then route by our own view.
        host.send(host.nodeSubjects.of(frame.ackTo), encodeAck(frame.id, host.allocate));
        host.route(frame.msg);
        return;
      }
      case FrameType.Info:
        if (host.view()?.onInfo(frame.id, frame.neighbours, data) !== true) {
          host.membership()?.onInfo(frame.id, frame.neighbours, data, host.handoff.asked(frame.id, data, frame.neighbours));
        }
        if (host.membership() !== undefined) host.handoff.onInfo(frame.id);
        return;
      case FrameType.Ping:
        if (host.identity.onPing(frame.sender, at)) return;
        // Identity checks are answered joined or not (a publisher-only broker holds its node key too).
        if (isIdentityCheck(headers)) host.send(host.nodeSubjects.of(frame.sender), host.identity.answerCheck(frame.id));
        else host.membership()?.onPing(frame.id, frame.sender, at, data);
        return;
      default:
        this.malformed(new ProtocolError(frame.type, 'unexpected on a node subject'), 'node frame');
    }
  }

  private guard(what: string, act: () => void): void {
    try {
      act();
    } catch (error) {
      this.contain(error, what);
    }
  }

  /** `explain` may replace a decoding error with one that says what was sent instead. */
  private decode(data: Uint8Array, explain = asIs): Frame | undefined {
    try {
      return decodeFrame(data, this.decodeCache);
    } catch (error) {
      this.malformed(explain(error), 'frame');
      return undefined;
    }
  }

  private malformed(error: unknown, what: string): void {
    this.host.counters.malformed++;
    const flowError = asFlowError(error, what, ErrorCode.Protocol);
    this.host.report(`${flowError.code}:${what}`, flowError);
  }
}

/** A decoding error as it is (Inbound.decode's default: one function, not one per frame). */
function asIs(error: unknown): unknown {
  return error;
}
