import type { U64 } from './bytes';
import { ErrorCode, FlowError } from './errors';
import { encodeFrame, FrameType, JoinFrame, LeaveFrame } from './frame';
import type { Key } from './key';
import type { ResolvedBrokerOptions } from './options';
import { readAnnouncement } from './capabilities';
import { readStreams, StreamKind, viewSubject } from './publish-wire';
import { Ring } from './ring';
import { askingForParts, readViewPart, ViewParts } from './view-answer';

/** View questions awaiting their answer, at most; older ids are forgotten. */
const OPEN_QUESTIONS = 8;
/**
 * Awaited questions in a row, at most, while a Flow member's JOIN says an answer will come; only those asked
 * once a JOIN was heard count (a publisher that starts before every member first asks nobody).
 */
export const AWAITED_QUESTIONS = 3;

/** What the ring view needs from its broker. */
export interface RingViewHost {
  readonly options: ResolvedBrokerOptions;
  nextId(): number;
  send(subject: string, frame: Uint8Array): void;
  /** Runs `task` once the input that has arrived by now is read (PubSub.afterInput). */
  afterInput(task: () => void): void;
  /** Whether request() hears no-responders (the transport has PubSub.publishRequest). */
  readonly tellsNoResponders: boolean;
  /**
   * Sends, and calls `onNoResponders` when nothing subscribes to `subject`, or `onRefused` when the transport
   * refused the publish (NATS permissions); the returned function stops listening.
   */
  request(subject: string, frame: Uint8Array, onNoResponders: () => void, onRefused: (error: FlowError) => void): () => void;
  /** Reports an error (rate limited per kind, as network input's). */
  report(kind: string, error: FlowError): void;
}

/**
 * The ring as a broker without handlers sees it, for direct publishing. It
 * never joins and owns nothing: it hears JOIN and LEAV on the clique subject,
 * asks a joined Flow member for every member and the streams it handles (a PING
 * on `<clique>.view`, answered with an INFO; publish-wire.ts) at start, when a
 * member joins before any answer came, and every stabilization interval, and
 * drops positions the publisher found dead (banned for a while, as members do).
 * An answer replaces the view, except positions whose JOIN came after its
 * question was asked (the answering member may not have heard them yet). One
 * too large for the transport comes in parts (view-answer.ts), applied once
 * all have come.
 *
 * Until the first answer the view is unknown. A question asked at start or on
 * a JOIN (at most one per ackTimeout) is awaited for an ackTimeout: meanwhile
 * the publisher keeps keyed publishes (publisher.ts), so a publisher that
 * starts where members exist sends its first ones direct, one round trip
 * later. Unanswered, it is asked again (and awaited) while a Flow member's
 * JOIN was heard, or while the transport, which reports no-responders, did
 * not for the last one (it reached a member: a publisher that starts or
 * restarts among members hears no JOIN), AWAITED_QUESTIONS in a row at most (a
 * lost question or answer; one asked before any JOIN was heard and not known
 * to have reached a member is not counted: it may have reached nobody).
 * Otherwise, unknown, every message takes the queue group
 * while the view is asked again at growing intervals (catchUp): a clique of Go
 * brokers alone never answers, so its publishers keep Go's path.
 *
 * A question the transport refused (NATS: the publisher's user may not publish
 * on `<clique>.view`, as with docs/nats-permissions.conf for a client of its
 * own clique) ends the wait at once: the view stays unknown, keyed publishes take
 * the queue group, nothing is asked again, and it is reported once.
 */
export class RingView {
  private readonly ring = new Ring();
  private streams = new Map<string, StreamKind>();
  private known = false;
  private readonly questions: U64[] = [];
  /** The number of each open question (same order as `questions`): how many were asked up to it. */
  private readonly questionNumbers: number[] = [];
  /** Answers that come in parts (view-answer.ts), until their last part. */
  private readonly parts = new ViewParts();
  private asked = 0;
  /** Positions learned from a JOIN, with the number of questions asked by then. */
  private readonly learned = new Map<string, number>();
  private readonly removed = new Map<string, number>();
  private readonly banMs: number;
  private timer: unknown;
  private lastAsked = -Infinity;
  private lastJoinAsked = -Infinity;
  private stopped = false;
  /** Clock time until which the last awaited question is awaited. */
  private awaitedUntil = -Infinity;
  private awaitTimer: unknown;
  private catchUpTimer: unknown;
  private settledListeners: (() => void)[] = [];
  private awaitedInARow = 0;
  /** A JOIN with a Flow announcement was heard: a member that answers exists. */
  private flowMemberHeard = false;
  /** Any JOIN was heard: from then on, awaited questions count against AWAITED_QUESTIONS. */
  private joinHeard = false;
  /** The last awaited question was sent where no-responders is told (tellsNoResponders), and none came: a member got it. */
  private reached = false;
  private stopWatch: (() => void) | undefined;
  /** The transport refused a question: none is asked again. */
  private refused = false;

  constructor(private readonly host: RingViewHost) {
    const { stabilization, ackTimeout } = host.options;
    this.banMs = Math.max(3 * stabilization.interval, 10 * ackTimeout);
  }

  /** Asks at once, then every stabilization interval (if on). */
  start(): void {
    this.ask(true);
    const { interval } = this.host.options.stabilization;
    if (interval > 0) this.schedule(interval);
  }

  stop(): void {
    this.stopped = true;
    this.parts.clear();
    if (this.timer !== undefined) this.host.options.clock.clearTimeout(this.timer);
    if (this.catchUpTimer !== undefined) this.host.options.clock.clearTimeout(this.catchUpTimer);
    this.timer = this.catchUpTimer = undefined;
    this.settled();
  }

  get isKnown(): boolean {
    return this.known;
  }

  /**
   * Unknown, and an awaited question (at start, on a JOIN, or asked again) pending for less than an
   * ackTimeout, or its ackTimeout passed and the input that came by then is not read yet (wakeAt).
   */
  get isAwaited(): boolean {
    return !this.known && !this.stopped && (this.host.options.clock.now() < this.awaitedUntil || this.awaitTimer !== undefined);
  }

  /** Calls `listener` once, when the view is answered or no longer awaited. Only while isAwaited. */
  whenSettled(listener: () => void): void {
    this.settledListeners.push(listener);
  }

  /** The members seen; none while the view is unknown. */
  members(): readonly Key[] {
    return this.known ? this.ring.keys() : [];
  }

  /** The owner of `partition` for a direct send on a `kind` stream; undefined when unknown. */
  ownerOf(stream: string, kind: StreamKind, partition: Key): Key | undefined {
    if (!this.known || this.streams.get(stream) !== kind) return undefined;
    return this.ring.ownerOf(partition);
  }

  /** The position was found dead: out of the view, not re-learned for a while unless it joins again. */
  suspect(key: Key): boolean {
    const text = key.toString();
    this.removed.set(text, this.host.options.clock.now() + this.banMs);
    this.learned.delete(text);
    return this.ring.remove(key);
  }

  /** A dead owner found by the forwarder's request watch: suspected; false, as no member was removed from a ring. */
  forget(key: Key): false {
    this.suspect(key);
    return false;
  }

  onCliqueFrame(frame: JoinFrame | LeaveFrame, data?: Uint8Array): void {
    if (frame.type === FrameType.Join) {
      this.joinHeard = true;
      const text = frame.sender.toString();
      this.removed.delete(text);
      this.learned.set(text, this.asked);
      this.ring.add(frame.sender);
      // Throttled: a joining broker sends one JOIN per virtual node. A member exists now: an awaited question.
      const now = this.host.options.clock.now();
      if (!this.known && now - this.lastJoinAsked >= this.host.options.ackTimeout) {
        this.lastJoinAsked = now;
        this.ask(true);
      }
      // Last: a malformed announcement throws (reported by the caller) after the JOIN counted.
      if (!this.flowMemberHeard && data !== undefined && readAnnouncement(data) !== undefined) this.flowMemberHeard = true;
    } else {
      this.suspect(frame.node);
    }
  }

  /** An INFO on our node subject; true when it answers one of our view questions (applied unless stopped). */
  onInfo(id: U64, neighbours: readonly Key[], data: Uint8Array): boolean {
    const at = this.questions.indexOf(id);
    if (at < 0) return false;
    const part = readViewPart(data);
    if (part !== undefined) {
      // One part of an answer too large for one message (view-answer.ts): applied once every part came.
      const whole = this.parts.add(id, part, neighbours);
      if (whole === undefined) return true;
      neighbours = whole;
    }
    const number = this.questionNumbers[at];
    this.questions.splice(at, 1);
    this.questionNumbers.splice(at, 1);
    const streams = this.stopped ? undefined : readStreams(data);
    if (streams === undefined) return true;
    const now = this.host.options.clock.now();
    const listed = new Set<string>();
    const admitted: Key[] = [];
    for (const key of neighbours) {
      const text = key.toString();
      const until = this.removed.get(text);
      if (until !== undefined && until > now) continue;
      if (until !== undefined) this.removed.delete(text);
      listed.add(text);
      admitted.push(key);
    }
    for (const key of this.ring.keys()) {
      const text = key.toString();
      if (listed.has(text) || (this.learned.get(text) ?? -1) >= number) continue;
      this.ring.remove(key);
      this.learned.delete(text);
    }
    this.ring.addAll(admitted);
    this.streams = streams;
    this.known = this.ring.size > 0;
    if (this.known) this.settled();
    return true;
  }

  /** `awaited`: keyed publishes wait for the answer, at most an ackTimeout. */
  private ask(awaited = false): void {
    if (this.stopped || this.refused) return;
    const { options } = this.host;
    const id = this.host.nextId();
    this.questions.push(id);
    this.questionNumbers.push(++this.asked);
    if (this.questions.length > OPEN_QUESTIONS) {
      this.parts.forget(this.questions.shift()!);
      this.questionNumbers.shift();
    }
    this.lastAsked = options.clock.now();
    if (awaited) {
      if (this.joinHeard) this.awaitedInARow++;
      this.awaitAnswer(this.lastAsked + options.ackTimeout);
    }
    const frame = askingForParts(encodeFrame({ type: FrameType.Ping, id, sender: options.nodeKey }));
    if (!awaited || !this.host.tellsNoResponders) return this.host.send(viewSubject(options.clique), frame);
    this.stopWatching();
    this.reached = true;
    this.stopWatch = this.host.request(
      viewSubject(options.clique),
      frame,
      () => (this.reached = false),
      (error) => this.onRefused(error),
    );
  }

  /** The transport refused a question: see the class comment. */
  private onRefused(cause: FlowError): void {
    if (this.refused || this.stopped) return;
    this.refused = true;
    if (this.catchUpTimer !== undefined) this.host.options.clock.clearTimeout(this.catchUpTimer);
    this.catchUpTimer = undefined;
    const subject = viewSubject(this.host.options.clique);
    this.host.report(
      'view:refused',
      new FlowError(
        ErrorCode.Transport,
        `the transport refused this publisher's question for the ring on "${subject}": keyed messages and requests ` +
          `go through their stream's queue group (no direct publishing, no per-key order); grant publish on "${subject}" ` +
          'and subscribe on the clique subject for direct publishing, or set directRouting: false to skip the question',
        { cause },
      ),
    );
    if (!this.known) this.settled();
  }

  /** Asked again, awaited: a Flow member's JOIN was heard, or the last question reached a member; at most AWAITED_QUESTIONS in a row. */
  private answerExpected(): boolean {
    if (!(this.flowMemberHeard || this.reached)) return false;
    // One asked before any JOIN counts once it is known to have reached a member (ask counts those asked after one).
    if (!this.joinHeard) this.awaitedInARow++;
    return this.awaitedInARow < AWAITED_QUESTIONS;
  }

  private stopWatching(): void {
    this.stopWatch?.();
    this.stopWatch = undefined;
  }

  private awaitAnswer(until: number): void {
    this.awaitedUntil = until;
    if (this.awaitTimer === undefined) this.wakeAt(until);
  }

  /**
   * The wait is over at `until`, once the input that has arrived by then is
   * read (afterInput): after the event loop stalled, timers run before the
   * socket is read, and an answer waiting there would otherwise find keyed
   * publishes already sent through the queue group.
   */
  private wakeAt(until: number): void {
    const { clock } = this.host.options;
    const timer = clock.setTimeout(() => this.host.afterInput(() => this.awaitTimer === timer && this.wake()), until - clock.now());
    this.awaitTimer = timer;
  }

  private wake(): void {
    this.awaitTimer = undefined;
    if (this.isAwaited) this.wakeAt(this.awaitedUntil);
    else if (!this.known && !this.stopped && this.answerExpected()) this.ask(true);
    else {
      this.settled();
      this.catchUp();
    }
  }

  /**
   * Unknown after the awaited questions (lost answers, or no Flow member to
   * answer): asked again, not awaited, after an ackTimeout, then at doubling
   * intervals until known, as long as they are shorter than the stabilization
   * interval (whose rounds ask too), or up to 64 ackTimeouts apart with
   * stabilization off. Meanwhile keyed publishes take the queue group, which
   * keeps no order; before, they did until the next stabilization round, or
   * for good with stabilization off.
   */
  private catchUp(delay = this.host.options.ackTimeout): void {
    if (this.catchUpTimer !== undefined || this.known || this.stopped || this.refused) return;
    const { clock, ackTimeout, stabilization } = this.host.options;
    if (stabilization.interval > 0 && delay >= stabilization.interval) return;
    this.catchUpTimer = clock.setTimeout(() => {
      this.catchUpTimer = undefined;
      if (this.known || this.stopped) return;
      this.ask();
      this.catchUp(Math.min(2 * delay, 64 * ackTimeout));
    }, delay);
  }

  private settled(): void {
    this.stopWatching();
    this.reached = false;
    if (this.awaitTimer !== undefined) this.host.options.clock.clearTimeout(this.awaitTimer);
    this.awaitTimer = undefined;
    this.awaitedUntil = -Infinity;
    this.awaitedInARow = 0;
    const listeners = this.settledListeners;
    this.settledListeners = [];
    for (const listener of listeners) listener();
  }

  private schedule(interval: number): void {
    this.timer = this.host.options.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.stopped) return;
      this.ask();
      this.schedule(interval);
    }, interval);
  }
}
