import { ClosedError, ErrorCode, FlowError, OverloadedError } from './errors';
import { encodeFrame, FrameType, MsgPayload } from './frame';
import { HandoffAnswers } from './handoff-answers';
import { HANDOFF_MAX_ACK_TIMEOUTS, HANDOFF_PATIENCE, HANDOFF_RECORD_ACK_TIMEOUTS, Hold, HandoffHost } from './handoff-host';
import { sayFarewell } from './handoff-farewell';
import { catches, redirectsOf, waitsFor } from './handoff-hold';
import { encodeQuery, HandoffAnswer, HandoffFarewell, readHandoff, Redirect } from './handoff-wire';
import { Key, keyFromBytes } from './key';
import { containsHash, Interval, intersect, normalize, ownersOf, subtract } from './key-ranges';
import { Capability, supports } from './capabilities';
import { viewSubject } from './publish-wire';
import { askingForParts, readViewPart, ViewParts } from './view-answer';

export { HANDOFF_MAX_ACK_TIMEOUTS, HANDOFF_PATIENCE } from './handoff-host';

/** How long a joiner still takes the answer to its view question once it stopped waiting for it, in ackTimeouts. */
export const LATE_ANSWER_ACK_TIMEOUTS = 10;
export type { HandoffHost } from './handoff-host';

/**
 * The handoff between Flow brokers (docs/PROTOCOL.md, "Handoff"): when a key
 * range moves between live brokers, its new owner runs none of its keys
 * that the previous owner still has queued or running.
 *
 * New owner. On acquiring intervals (ownership.ts), it holds every message of
 * them and asks each previous owner that may speak handoff what it still runs
 * there. The answer releases the intervals the previous owner gave up; of those
 * only keys on its draining lanes stay held, each until the previous owner says
 * that lane drained, or says farewell (it closed running nothing, naming whom
 * it still waited for: handoff-farewell.ts). One that has no subscriber any
 * more, does not answer HANDOFF_PATIENCE queries, or keeps a lane past
 * HANDOFF_MAX_ACK_TIMEOUTS is given up on: the held messages run, and
 * `handoffsAbandoned` counts it. One whose announcement of handoff is not
 * known within an ackTimeout (a Go broker) is not asked: its keys are let go,
 * as before handoff existed. Held messages count against maxQueuedMessages and
 * are released in arrival order, through routing again.
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
  private holds: Hold[] = [];
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
  private retired = false;
  private heldCount = 0;
  private lastToken = 0;
  private watchTimer: unknown;

  constructor(private readonly host: HandoffHost) {
    this.answers = new HandoffAnswers(host, (asker, intervals) => this.redirectsFor(asker, intervals));
  }

  /** True while ownership must not settle (a joining broker learning the ring). */
  get isLearning(): boolean {
    return this.learning !== undefined;
  }


  /** Draining keys tracked: lanes held here plus lanes watched for askers. */
  get tracked(): number {
    let n = 0;
    for (const hold of this.holds) n += hold.lanes?.size ?? 0;
    return n + this.answers.tracked;
  }

  /**
   * A joining broker asks one member for the ring (`<clique>.view`) and holds
   * everything until it knows; `onLearned` runs first then (the broker starts
   * answering view questions only after its own is answered).
   */
  learn(id: number, onLearned: () => void): void {
    const { options } = this.host;
    const ping = askingForParts(encodeFrame({ type: FrameType.Ping, id, sender: options.nodeKey }));
    const stop = this.host.request(viewSubject(options.clique), ping, () => this.endLearning());
    const timer = options.clock.setTimeout(() => this.endLearning(), options.ackTimeout);
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
    for (const hold of this.holds) if (!hold.speaks && this.speaksHandoff(hold.position) === true) this.query(hold);
  }

  /**
   * Takes `msg` (owned here, `partition` its key) when it must wait; false
   * lets it run now. The hot path: one length check while nothing is held.
   */
  admit(msg: MsgPayload, partition: Key): boolean {
    // The ring may have changed in this very turn (a LEAV just processed): that change's holds first.
    this.host.ownership.settle();
    if (this.holds.length === 0 && this.learning === undefined) return false;
    if (this.learning !== undefined) return this.keep(this.heldWhileLearning, msg);
    const hash = partition.toBigInt();
    for (const hold of this.holds) {
      if (catches(hold, partition, hash)) return this.keep(hold.held, msg);
    }
    return false;
  }

  /** Intervals this broker just acquired, with the members before the change (empty: a joiner's first). */
  acquired(intervals: readonly Interval[], before: readonly Key[], members: readonly Key[], isLocal: (key: Key) => boolean): void {
    // A retired broker takes nothing over (a leaving member's keys go to the members that stay).
    if (this.retired) return;
    // A joiner's previous owners are the members that owned its ranges before it came: the ring without it.
    const ring = (before.length > 0 ? before : members).filter((key) => !isLocal(key));
    if (ring.length === 0) return;
    const points = ring.map((key) => key.toBigInt());
    const byOwner = new Map<number, Interval[]>();
    for (const interval of intervals) {
      for (const [index, part] of ownersOf(interval, points)) {
        const list = byOwner.get(index);
        if (list === undefined) byOwner.set(index, [part]);
        else list.push(part);
      }
    }
    // One hold per previous owner's node (its answer lists all its lanes once), else per position.
    const byNode = new Map<string, { from: Key; position: Key; parts: Interval[] }>();
    for (const [index, parts] of byOwner) {
      const position = ring[index];
      const from = this.host.membership()?.capabilities.of(position)?.nodeKey ?? position;
      const group = byNode.get(from.toString());
      if (group === undefined) byNode.set(from.toString(), { from, position, parts: [...parts] });
      else group.parts.push(...parts);
    }
    for (const { from, position, parts } of byNode.values()) this.ask(from, position, normalize(parts));
  }

  /**
   * Ownership settled: held messages of intervals this broker no longer owns
   * are routed anew, and it stops waiting for intervals not released to it
   * that it no longer owns. A hold on released intervals stays, holding
   * nothing, until its previous owner drained them: a broker that asks us for
   * those intervals is redirected to that previous owner (a chain of moves).
   */
  ownedChanged(owned: readonly Interval[]): void {
    for (const hold of [...this.holds]) {
      // Given up before its previous owner answered: kept as a record on all lanes until it does (redirects).
      if (hold.speaks && !hold.answered) hold.released = normalize([...hold.released, ...subtract(hold.pending, owned)]);
      hold.pending = intersect(hold.pending, owned);
      const moved = hold.held.filter((msg) => !containsHash(owned, this.partitionOf(msg).toBigInt()));
      if (moved.length > 0) {
        hold.held.splice(0, hold.held.length, ...hold.held.filter((msg) => !moved.includes(msg)));
        this.release(moved);
      }
      if (hold.pending.length === 0 && (hold.released.length === 0 || hold.lanes?.size === 0)) this.finish(hold);
      else if (intersect(hold.released, owned).length > 0 || hold.pending.length > 0) hold.recordUntil = undefined;
      // None of it is ours any more: a record for redirects, briefly (a chain's next owner asks at once).
      else hold.recordUntil ??= this.host.options.clock.now() + HANDOFF_RECORD_ACK_TIMEOUTS * this.host.options.ackTimeout;
    }
  }

  /** This broker left the ring (graceful shutdown): nothing waits here any more, held messages route on. */
  retire(): void {
    this.retired = true;
    if (this.learning !== undefined) this.stopLearning();
    this.release(this.heldWhileLearning.splice(0));
    // Holds on released intervals stay as records while we drain: askers are redirected to their owners.
    this.ownedChanged([]);
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
    else if (message.kind === 'farewell') this.onFarewell(message);
    else this.onAnswer(message);
    return true;
  }

  /** Closing: a farewell when no lane is busy (handoff-farewell.ts); held messages are dropped (FLOW_CLOSED), holds and watchers end. */
  stop(): void {
    sayFarewell(this.host, (asker, intervals) => this.redirectsFor(asker, intervals));
    if (this.learning !== undefined) this.stopLearning();
    const closed = new ClosedError();
    const held = this.heldWhileLearning.splice(0);
    for (const hold of this.holds) {
      hold.stopWatching();
      held.push(...hold.held);
    }
    this.holds = [];
    this.heldCount = 0;
    this.answers.stop();
    for (const msg of held) this.host.drop(msg, closed);
    if (this.watchTimer !== undefined) this.host.options.clock.clearTimeout(this.watchTimer);
    this.watchTimer = undefined;
  }

  // ----- new owner -----

  /** True: the position's member announced handoff; false: it announced without (older Flow); undefined: not known (or Go). */
  private speaksHandoff(position: Key): boolean | undefined {
    const announced = this.host.membership()?.capabilities.of(position);
    return announced === undefined ? undefined : supports(announced, Capability.Handoff);
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

  private ask(from: Key, position: Key, intervals: Interval[], vouched = false): void {
    const speaks = vouched || this.speaksHandoff(position);
    if (speaks === false) return;
    const { clock } = this.host.options;
    const hold: Hold = {
      token: (this.lastToken = (this.lastToken + 1) >>> 0),
      from,
      position,
      pending: intervals,
      released: [],
      lanes: undefined,
      held: [],
      since: clock.now(),
      asked: 0,
      lastQuery: clock.now(),
      speaks: false,
      answered: false,
      redirected: vouched,
      recordUntil: undefined,
      stopWatching: () => undefined,
    };
    this.holds.push(hold);
    // Not known yet (its announcement is on its way, or it is a Go broker): asked once it is, else let go.
    if (speaks === true) this.query(hold);
    this.watchTimer ??= clock.setTimeout(() => this.watch(), this.host.options.ackTimeout);
  }

  private query(hold: Hold): void {
    const { options, nodeSubjects } = this.host;
    hold.speaks = true;
    hold.asked++;
    hold.lastQuery = options.clock.now();
    hold.stopWatching();
    const frame = encodeQuery(hold.token, options.nodeKey, normalize([...hold.pending, ...hold.released]));
    // No subscriber on its node subject: the previous owner is gone (crashed or closed); nothing to wait for.
    hold.stopWatching = this.host.request(nodeSubjects.of(hold.from), frame, () => this.gone(hold));
  }

  private onAnswer(answer: HandoffAnswer): void {
    const hold = this.holds.find((h) => h.token === answer.token);
    if (hold === undefined) return;
    hold.speaks = true;
    hold.answered = true;
    hold.asked = 0;
    const all = normalize([...hold.pending, ...hold.released]);
    // A node we were redirected to may own those intervals again by now: its running work is what counts.
    hold.released = hold.redirected ? all : intersect(all, normalize(answer.released));
    hold.pending = hold.redirected ? [] : subtract(all, hold.released);
    hold.lanes = answer.lanes === undefined ? undefined : new Set(answer.lanes);
    for (const redirect of answer.redirects) this.redirected(redirect);
    if (hold.pending.length === 0 && hold.lanes?.size === 0) {
      this.finish(hold);
      return;
    }
    if (hold.lanes === undefined) return;
    const waiting = hold.held.splice(0);
    const runnable: MsgPayload[] = [];
    for (const msg of waiting) {
      const partition = this.partitionOf(msg);
      if (catches(hold, partition, partition.toBigInt())) hold.held.push(msg);
      else runnable.push(msg);
    }
    this.release(runnable);
  }

  /** The previous owner closed running nothing: the earlier owners it names are asked, and nothing waits for it. */
  private onFarewell(farewell: HandoffFarewell): void {
    // Its LEAV may be in this very turn: that change's holds first.
    this.host.ownership.settle();
    const positions = this.host.membership()?.capabilities.positionsOf(farewell.node);
    const ended = this.holds.filter((hold) => waitsFor(hold, farewell.node, positions));
    if (ended.length > 0) for (const redirect of farewell.redirects) this.redirected(redirect);
    for (const hold of ended) this.finish(hold);
  }

  private partitionOf(msg: MsgPayload): Key {
    return keyFromBytes(msg.partitionKey, this.host.options.partitionHash);
  }

  private finish(hold: Hold): void {
    hold.stopWatching();
    this.holds = this.holds.filter((h) => h !== hold);
    this.release(hold.held.splice(0));
  }

  /**
   * The previous owner's node subject has no subscriber: it closed (after
   * draining, or abruptly) or crashed. Counted as abandoned only when it was
   * last heard with lanes still draining; the crash of an owner that never
   * answered is takeover, not handoff.
   */
  private gone(hold: Hold): void {
    if (!this.holds.includes(hold)) return;
    if (hold.lanes === undefined || hold.lanes.size > 0 || hold.pending.length > 0) {
      if (hold.answered) return this.abandon(hold, 'is gone with lanes still draining');
    }
    this.finish(hold);
  }

  private abandon(hold: Hold, why: string): void {
    if (!this.holds.includes(hold)) return;
    this.host.counters.handoffsAbandoned++;
    const error = new FlowError(ErrorCode.OwnerLost, `handoff from ${hold.from.toString()} abandoned: the previous owner ${why}; its keys run here now`);
    this.host.report('handoff', error);
    this.finish(hold);
  }

  private release(messages: MsgPayload[]): void {
    this.heldCount -= messages.length;
    for (const msg of messages) this.host.route(msg);
  }

  /**
   * A previous owner still waits for an earlier one in these intervals: ask
   * that one too (its lanes hold our keys), unless it is us or already asked.
   */
  private redirected(redirect: Redirect): void {
    if (this.retired || redirect.node.equals(this.host.options.nodeKey)) return;
    const mine = intersect(normalize(redirect.intervals), this.host.ownership.servedIntervals());
    if (mine.length === 0) return;
    const asked = this.holds.filter((hold) => hold.from.equals(redirect.node)).flatMap((hold) => [...hold.pending, ...hold.released]);
    const fresh = subtract(mine, normalize(asked));
    if (fresh.length === 0) return;
    this.ask(redirect.node, redirect.node, fresh, true);
  }

  /** Our holds (not on `asker`) still waiting in `intervals`: the earlier owners the asker must ask too. */
  private redirectsFor(asker: Key, intervals: readonly Interval[]): Redirect[] {
    return redirectsOf(this.holds, asker, this.host.membership()?.capabilities.positionsOf(asker) ?? [asker], intervals);
  }

  /** Every ackTimeout while holds exist: ask again, give up on the silent and the overdue. */
  private watch(): void {
    this.watchTimer = undefined;
    const { ackTimeout, clock } = this.host.options;
    const now = clock.now();
    for (const hold of [...this.holds]) {
      if (hold.recordUntil !== undefined && now >= hold.recordUntil) this.finish(hold);
      else if (now - hold.since >= HANDOFF_MAX_ACK_TIMEOUTS * ackTimeout) this.abandon(hold, `kept it past ${HANDOFF_MAX_ACK_TIMEOUTS} ackTimeouts`);
      else if (now - hold.lastQuery < ackTimeout) continue;
      else if (!hold.speaks) {
        // Never announced handoff within an ackTimeout: a Go broker or an older Flow; today's behaviour.
        if (this.speaksHandoff(hold.position) === true) this.query(hold);
        else this.finish(hold);
      } else if (hold.asked >= HANDOFF_PATIENCE) this.abandon(hold, `did not answer ${hold.asked} queries`);
      else this.query(hold);
    }
    if (this.holds.length > 0) this.watchTimer = clock.setTimeout(() => this.watch(), ackTimeout);
  }
}
