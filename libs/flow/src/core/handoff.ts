import { ClosedError, OverloadedError } from './errors';
import { encodeFrame, FrameType, MsgPayload } from './frame';
import { HandoffAnswers } from './handoff-answers';
import type { HandoffHost } from './handoff-host';
import { sayFarewell } from './handoff-farewell';
import { HandoffHolds } from './handoff-holds';
import { readHandoff } from './handoff-wire';
import type { Key } from './key';
import type { Interval } from './key-ranges';
import { releaseInOrder } from './ordered-release';
import { viewSubject } from './publish-wire';
import { askingForParts, readViewPart, ViewParts } from './view-answer';


/** How long a joiner still takes the answer to its view question once it stopped waiting for it, in ackTimeouts. */
export const LATE_ANSWER_ACK_TIMEOUTS = 10;
export type { HandoffHost } from './handoff-host';

/**
 * The handoff between Flow brokers (docs/PROTOCOL.md, "Handoff"): when a key
 * range moves between live brokers, its new owner runs none of its keys
 * that the previous owner still has queued or running.
 *
 * New owner (handoff-holds.ts). On acquiring intervals (ownership.ts), it
 * holds every message of them and asks each previous owner that may speak
 * handoff what it still runs there. The answer releases the intervals the
 * previous owner gave up; of those only keys on its draining lanes stay held,
 * each until the previous owner says that lane drained, or says farewell (it
 * closed running nothing, naming whom it still waited for:
 * handoff-farewell.ts). One that has no subscriber any more, does not answer
 * HANDOFF_PATIENCE queries, or keeps a lane past HANDOFF_MAX_ACK_TIMEOUTS is
 * given up on: the held messages run, and `handoffsAbandoned` counts it. One
 * whose announcement of handoff is not known within an ackTimeout (a Go
 * broker) is not asked: its keys are let go, as before handoff existed. Held
 * messages count against maxQueuedMessages and are released in arrival order,
 * through routing again.
 *
 * Joining. Until it has learned the ring (the answer to a view question, no
 * responders, or an ackTimeout), a joining broker holds everything and its
 * ownership does not settle: its first acquisition is what it really took.
 *
 * Previous owner (handoff-answers.ts). It answers a query with the intervals
 * it no longer owns (draining counts as owning nothing: routing.retire) and its
 * busy lanes, and answers again whenever one of those lanes drains.
 *
 * Chains. A previous owner still waiting for an earlier one in the queried
 * intervals redirects the asker to it, and keeps that hold as a record (no
 * messages) after it gave the keys up or retired. A broker only ever waits on
 * other brokers' running work, never on their waiting: no cycles.
 */
export class Handoff {
  /** The new owner's side: holds on acquired intervals until their previous owners release them. */
  private readonly holds: HandoffHolds;
  /** The previous owner's side: answers to other brokers' queries. */
  private readonly answers: HandoffAnswers;
  private learning:
    | { stop: () => void; timer: unknown; question: number; onLearned: () => void; parts: ViewParts; answered: boolean }
    | undefined;
  /**
   * Our view question after learning ended without its answer (the ackTimeout,
   * or no responders): an answer that comes within LATE_ANSWER_ACK_TIMEOUTS is
   * still the ring we asked for, registered as it is rather than bounded (and
   * reported) as an unasked INFO.
   */
  private late: { question: number; parts: ViewParts; until: number } | undefined;
  private readonly heldWhileLearning: MsgPayload[] = [];
  private heldCount = 0;

  constructor(private readonly host: HandoffHost) {
    this.holds = new HandoffHolds(host, (messages) => this.release(messages));
    this.answers = new HandoffAnswers(host, (asker, intervals) => this.holds.redirectsFor(asker, intervals));
  }

  /** True while ownership must not settle (a joining broker learning the ring). */
  get isLearning(): boolean {
    return this.learning !== undefined;
  }


  /** Draining keys tracked: lanes held here plus lanes watched for askers. */
  get tracked(): number {
    return this.holds.tracked + this.answers.tracked;
  }

  /**
   * A joining broker asks one member for the ring (`<clique>.view`) and holds
   * everything until it knows; `onLearned` runs first then (the broker starts
   * answering view questions only after its own is answered).
   *
   * The ackTimeout ends learning only after the input that has arrived by then
   * is read (afterInput). After the event loop stalled (a long GC, a starved
   * CPU), timers run before the socket is read: the answer, and the members'
   * INFOs, may be waiting there, and a joiner that settled without them would
   * take the whole ring for itself and run the messages it held.
   */
  learn(id: number, onLearned: () => void): void {
    const { options } = this.host;
    const ping = askingForParts(encodeFrame({ type: FrameType.Ping, id, sender: options.nodeKey }));
    const stop = this.host.request(viewSubject(options.clique), ping, () => this.endLearning());
    const timer = options.clock.setTimeout(() => this.host.afterInput(() => void (this.learning?.timer === timer && this.endLearning())), options.ackTimeout);
    this.learning = { stop, timer, question: id, onLearned, parts: new ViewParts(), answered: false };
  }

  /**
   * True for an INFO `data` answering our view question while we wait for its
   * answer: its `positions` are the ring, to register as they are. An answer
   * in parts (view-answer.ts) is answered once its last part came; a part
   * that disagrees with the others, or takes them past MAX_VIEW_POSITIONS,
   * throws ProtocolError before anything of it is registered.
   */
  asked(id: number | bigint, data: Uint8Array, positions: readonly Key[]): boolean {
    const { learning, late } = this;
    const question = learning ?? (late !== undefined && this.host.options.clock.now() < late.until ? late : undefined);
    if (question === undefined || id !== question.question) return false;
    const part = readViewPart(data);
    if (part !== undefined && question.parts.add(id, part, positions) === undefined) return true;
    if (learning !== undefined) learning.answered = true;
    else this.late = undefined;
    return true;
  }

  /**
   * An INFO arrived (after membership registered its members and learned any
   * announcement in it): the view answer ends learning, and previous owners
   * whose announcement was not known yet are asked once it is.
   */
  onInfo(id: number | bigint): void {
    if (this.learning?.answered === true && id === this.learning.question) this.endLearning();
    this.holds.onInfo();
  }

  /**
   * Takes `msg` (owned here, `partition` its key) when it must wait; false
   * lets it run now. The hot path: one length check while nothing is held.
   */
  admit(msg: MsgPayload, partition: Key): boolean {
    // The ring may have changed in this very turn (a LEAV just processed): that change's holds first.
    this.host.ownership.settle();
    if (this.holds.size === 0 && this.learning === undefined) return false;
    if (this.learning !== undefined) return this.keep(this.heldWhileLearning, msg);
    const held = this.holds.catching(partition);
    return held !== undefined && this.keep(held, msg);
  }

  /** Intervals this broker just acquired, with the members before the change (empty: a joiner's first). */
  acquired(intervals: readonly Interval[], before: readonly Key[], members: readonly Key[], isLocal: (key: Key) => boolean): void {
    this.holds.acquired(intervals, before, members, isLocal);
  }

  /**
   * The transport is back after an outage (reconnect-fence.ts): the members
   * may have run this broker's keys meanwhile, and a joiner may have taken
   * some. It takes its ranges back as a joiner does: it holds them and asks
   * their previous owners, the owners in its ring without its own positions.
   * Then `waiting` (the messages that waited for their handlers, each lane's
   * in order) goes through routing again: held while a previous owner may
   * still run their keys, forwarded in their order when another broker owns
   * them now. A learning joiner holds everything anyway.
   */
  rejoined(waiting: MsgPayload[]): void {
    const membership = this.host.membership();
    if (membership !== undefined && this.learning === undefined) {
      const { table } = membership;
      this.holds.acquired(this.host.ownership.servedIntervals(), [], table.members(), (key) => table.isLocal(key));
    }
    this.routeAgain(waiting);
  }

  /** Ownership settled: the holds follow what this broker owns now (handoff-holds.ts). */
  ownedChanged(owned: readonly Interval[]): void {
    this.holds.ownedChanged(owned);
  }

  /** This broker left the ring (graceful shutdown): nothing waits here any more, held messages route on. */
  retire(): void {
    this.holds.retire();
    if (this.learning !== undefined) this.stopLearning();
    this.release(this.heldWhileLearning.splice(0));
    // Holds on released intervals stay as records while we drain: askers are redirected to their owners.
    this.holds.ownedChanged([]);
  }

  /** A scheduler lane drained (the previous owner's side). */
  laneIdle(lane: number): void {
    this.answers.laneIdle(lane);
  }

  /** An ACK with id 0 on a node subject; true when it carried a handoff message. */
  onAck(data: Uint8Array): boolean {
    const message = readHandoff(data);
    if (message === undefined) return false;
    if (message.kind === 'query') this.answers.onQuery(message);
    else if (message.kind === 'farewell') this.holds.onFarewell(message);
    else this.holds.onAnswer(message);
    return true;
  }

  /** Closing: a farewell when no lane is busy (handoff-farewell.ts); held messages are dropped (FLOW_CLOSED), holds and watchers end. */
  stop(): void {
    sayFarewell(this.host, (asker, intervals) => this.holds.redirectsFor(asker, intervals));
    if (this.learning !== undefined) this.stopLearning();
    const closed = new ClosedError();
    const held = this.heldWhileLearning.splice(0);
    held.push(...this.holds.stop());
    this.heldCount = 0;
    this.answers.stop();
    for (const msg of held) this.host.drop(msg, closed);
  }

  private keep(list: MsgPayload[], msg: MsgPayload): boolean {
    const { maxQueuedMessages } = this.host.options;
    if (this.heldCount >= maxQueuedMessages) {
      this.host.drop(msg, new OverloadedError('maxQueuedMessages (messages held for a handoff)', maxQueuedMessages));
      return true;
    }
    this.heldCount++;
    list.push(msg);
    return true;
  }

  private endLearning(): void {
    if (this.learning === undefined) return;
    const { onLearned, answered, question, parts } = this.learning;
    this.stopLearning();
    const { clock, ackTimeout } = this.host.options;
    if (!answered) this.late = { question, parts, until: clock.now() + LATE_ANSWER_ACK_TIMEOUTS * ackTimeout };
    onLearned();
    // Settles ownership (the holds of the first acquisition), then what waited runs or waits anew.
    this.host.ownership.settle();
    this.release(this.heldWhileLearning.splice(0));
  }

  private stopLearning(): void {
    const learning = this.learning!;
    this.learning = undefined;
    learning.stop();
    this.host.options.clock.clearTimeout(learning.timer);
  }

  /** Held messages go through routing again (routeAgain); they no longer count as held. */
  private release(messages: MsgPayload[]): void {
    this.heldCount -= messages.length;
    this.routeAgain(messages);
  }

  /**
   * Those still owned here are queued in their lanes at once, in the order
   * routed, and a message that arrives later queues behind them; chaining
   * them would let it overtake them (simulation seeds 51030, 51126, 54990).
   * Those owned elsewhere by now (all of them once the routing table is
   * retired) are forwarded within a lane one after another (ordered-release.ts).
   */
  private routeAgain(messages: MsgPayload[]): void {
    const table = this.host.membership()?.table;
    const elsewhere: MsgPayload[] = [];
    for (const msg of messages) {
      const forwarded = table !== undefined && msg.partitionKey.length > 0 && !table.isLocal(table.ownerOf(this.holds.partitionOf(msg)));
      if (!forwarded) this.host.route(msg);
      else {
        elsewhere.push(msg);
        msg.settle?.(undefined, true);
      }
    }
    releaseInOrder(elsewhere, (msg) => this.holds.partitionOf(msg), (msg) => this.host.route(msg));
  }
}
