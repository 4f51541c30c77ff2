import { Capability, supports } from './capabilities';
import { ErrorCode, FlowError } from './errors';
import type { MsgPayload } from './frame';
import { catches, redirectsOf, waitsFor } from './handoff-hold';
import { HANDOFF_MAX_ACK_TIMEOUTS, HANDOFF_PATIENCE, HANDOFF_RECORD_ACK_TIMEOUTS, Hold, HandoffHost } from './handoff-host';
import { encodeQuery, HandoffAnswer, HandoffFarewell, Redirect } from './handoff-wire';
import { Key, keyFromBytes } from './key';
import { containsHash, Interval, intersect, normalize, ownersOf, subtract } from './key-ranges';

/**
 * The new owner's side of the handoff (docs/PROTOCOL.md, "Handoff"; the whole
 * picture in handoff.ts): a hold per previous owner of the intervals this
 * broker acquired, its queries, the answers, farewells and redirects that
 * release it, and the patience rules that give up on it.
 */
export class HandoffHolds {
  private holds: Hold[] = [];
  private retired = false;
  private lastToken = 0;
  private watchTimer: unknown;

  constructor(
    private readonly host: Pick<HandoffHost, 'options' | 'counters' | 'nodeSubjects' | 'ownership' | 'membership' | 'request' | 'report'>,
    /** Routes messages a hold lets go (they no longer count as held). */
    private readonly release: (messages: MsgPayload[]) => void,
  ) {}

  /** Holds in place, records included. */
  get size(): number {
    return this.holds.length;
  }

  /** Draining keys tracked: lanes held here. */
  get tracked(): number {
    let n = 0;
    for (const hold of this.holds) n += hold.lanes?.size ?? 0;
    return n;
  }

  /** The held messages of the hold that keeps `partition` waiting; undefined: none does. */
  catching(partition: Key): MsgPayload[] | undefined {
    const hash = partition.toBigInt();
    for (const hold of this.holds) {
      if (catches(hold, partition, hash)) return hold.held;
    }
    return undefined;
  }

  /** Previous owners whose announcement was not known yet are asked once it is. */
  onInfo(): void {
    for (const hold of this.holds) if (!hold.speaks && this.speaksHandoff(hold.position) === true) this.query(hold);
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

  /** This broker left the ring (graceful shutdown): it takes nothing over any more. */
  retire(): void {
    this.retired = true;
  }

  /** Closing: holds and their watchers end; returns the messages they held, in hold order. */
  stop(): MsgPayload[] {
    const held: MsgPayload[] = [];
    for (const hold of this.holds) {
      hold.stopWatching();
      held.push(...hold.held);
    }
    this.holds = [];
    if (this.watchTimer !== undefined) this.host.options.clock.clearTimeout(this.watchTimer);
    this.watchTimer = undefined;
    return held;
  }

  onAnswer(answer: HandoffAnswer): void {
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
  onFarewell(farewell: HandoffFarewell): void {
    // Its LEAV may be in this very turn: that change's holds first.
    this.host.ownership.settle();
    const positions = this.host.membership()?.capabilities.positionsOf(farewell.node);
    const ended = this.holds.filter((hold) => waitsFor(hold, farewell.node, positions));
    if (ended.length > 0) for (const redirect of farewell.redirects) this.redirected(redirect);
    for (const hold of ended) this.finish(hold);
  }

  /** Our holds (not on `asker`) still waiting in `intervals`: the earlier owners the asker must ask too. */
  redirectsFor(asker: Key, intervals: readonly Interval[]): Redirect[] {
    return redirectsOf(this.holds, asker, this.host.membership()?.capabilities.positionsOf(asker) ?? [asker], intervals);
  }

  /** True: the position's member announced handoff; false: it announced without (older Flow); undefined: not known (or Go). */
  private speaksHandoff(position: Key): boolean | undefined {
    const announced = this.host.membership()?.capabilities.of(position);
    return announced === undefined ? undefined : supports(announced, Capability.Handoff);
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

  /** `msg`'s partition by its key (the hash this broker uses). */
  partitionOf(msg: MsgPayload): Key {
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
