import type { U64 } from './bytes';
import { Announcement } from './capabilities';
import { IncompatibleMemberError } from './errors';
import { Identity } from './identity';
import { Key } from './key';
import { ResolvedBrokerOptions } from './options';
import { ringPositions } from './virtual-nodes';

/** What the capability table needs from membership. */
export interface MemberCapabilitiesHost {
  readonly options: ResolvedBrokerOptions;
  readonly identity: Identity;
  /** Takes `positions` off the routing ring; `isRefused` keeps them off. */
  unregister(positions: readonly Key[]): void;
  /** Whether `position` is on the routing ring now. */
  isMember(position: Key): boolean;
  /** Sends `position` a PING carrying our announcement; returns its id. */
  query(position: Key): number;
  /** Whether `position`'s node subject has a subscriber; undefined when the transport cannot tell. */
  probe(position: Key): Promise<boolean | undefined>;
  /** Removes a dead position (as a suspicion). */
  suspect(position: Key): void;
}

/** Per-member state kept at most; beyond it a cache is cleared (only forged traffic gets there). */
const MAX_ENTRIES = 1 << 16;

/** How many ackTimeouts a member may take to announce itself, and then to answer a query. */
const ANNOUNCE_WAIT_ACK_TIMEOUTS = 4;

type Verdict = 'twin' | 'compatible' | 'incompatible';

/**
 * Positions derived from announcements of new members per second, at most.
 * Deriving 4096 positions takes about 16 ms, so forged announcements could
 * otherwise keep a broker busy; 16,384 is 64 brokers of 256 positions.
 */
const MAX_DERIVED_PER_SECOND = 16_384;

interface Unannounced {
  readonly key: Key;
  readonly since: number;
  queriedAt?: number;
  queryId?: number;
}

/**
 * Capabilities and hash mode of every member, by ring position, and the rule
 * that keeps ownership from splitting: a member whose hash mode differs from
 * ours, or a Go member (one that never announces) while we are not in
 * 'go-flow' mode, is refused: its positions are taken off the ring for
 * routing, and the error names the `partitionHash` option.
 *
 * A member is known as Go when it JOINs without an announcement, answers our
 * query PING without one, or stays silent for `ANNOUNCE_WAIT_ACK_TIMEOUTS`
 * ackTimeouts after we first listed it and as long again after our query.
 */
export class MemberCapabilities {
  /** Node key text -> the latest announcement of that node and what we made of it. */
  private readonly members = new Map<
    string,
    { readonly announcement: Announcement; readonly verdict: Verdict; readonly positions?: readonly Key[] }
  >();
  /** Position text -> node key text, for every announced position. */
  private readonly nodeOf = new Map<string, string>();
  private readonly unannounced = new Map<string, Unannounced>();
  private readonly queries = new Map<U64, string>();
  private readonly refused = new Set<string>();
  /** Positions known to be Go brokers (they never announce). */
  private readonly go = new Set<string>();
  private readonly localPositions: ReadonlySet<string>;
  private readonly waitMs: number;
  private timer: unknown;
  private stopped = false;
  private budgetWindow = Number.NEGATIVE_INFINITY;
  private budgetUsed = 0;
  /** When an announcement was last deferred for lack of budget: silence proves nothing for a while after. */
  private lastDeferral = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly host: MemberCapabilitiesHost,
    positions: readonly Key[],
  ) {
    this.localPositions = new Set(positions.map(String));
    this.waitMs = ANNOUNCE_WAIT_ACK_TIMEOUTS * host.options.ackTimeout;
  }

  /** The announcement a position's node made, if it made one. */
  of(position: Key): Announcement | undefined {
    const node = this.nodeOf.get(position.toString());
    return node === undefined ? undefined : this.members.get(node)?.announcement;
  }

  /** Every ring position of a compatible member known by its node key; undefined for any other. */
  positionsOf(nodeKey: Key): readonly Key[] | undefined {
    const member = this.members.get(nodeKey.toString());
    return member?.verdict === 'compatible' ? member.positions : undefined;
  }

  isRefused(position: Key): boolean {
    return this.refused.size > 0 && this.refused.has(position.toString());
  }

  refusesAny(): boolean {
    return this.refused.size > 0;
  }

  /**
   * Learns a member's announcement. 'self' for our own (an echo of our JOIN),
   * 'twin' for another instance holding our node key or one of our positions
   * (reported once; its keys must not be registered), otherwise whether it is
   * compatible. Runs the full work once per instance of a member; 'deferred'
   * when the derivation budget is spent (the member is queried again later).
   */
  learn(a: Announcement): 'self' | 'deferred' | Verdict {
    const local = this.host.identity.announcement;
    if (a.instance.equals(local.instance) && a.nodeKey.equals(local.nodeKey)) return 'self';
    const node = a.nodeKey.toString();
    const known = this.members.get(node)?.announcement;
    if (
      known !== undefined &&
      known.instance.equals(a.instance) &&
      known.virtualNodes === a.virtualNodes &&
      known.partitionHash === a.partitionHash
    ) {
      return this.members.get(node)!.verdict;
    }
    if (!this.spend(a.virtualNodes)) return 'deferred';
    const positions = ringPositions(a.nodeKey, a.virtualNodes);
    const clash = a.nodeKey.equals(local.nodeKey) ? a.nodeKey : positions.find((p) => this.localPositions.has(p.toString()));
    if (clash !== undefined) {
      this.remember(node, a, 'twin');
      this.host.identity.onTwin(a, clash);
      return 'twin';
    }
    const compatible = a.partitionHash === local.partitionHash;
    this.remember(node, a, compatible ? 'compatible' : 'incompatible', positions);
    for (const position of positions) {
      const text = position.toString();
      this.nodeOf.set(text, node);
      this.unannounced.delete(text);
      this.go.delete(text);
    }
    if (compatible) {
      for (const position of positions) this.refused.delete(position.toString());
      this.host.identity.clearIncompatible(node);
      return 'compatible';
    }
    const { partitionHash: ours, clique } = this.host.options;
    this.refuse(
      positions,
      new IncompatibleMemberError(
        node,
        `member ${node} of clique "${clique}" hashes partition keys with partitionHash '${a.partitionHash}', ` +
          `this broker with '${ours}': not routing to its ${positions.length} positions, so that no key has two owners. ` +
          'Every broker of a clique must use the same partitionHash (docs/MIGRATION.md)',
      ),
    );
    return 'incompatible';
  }

  /** A JOIN without an announcement: the sender is a Go broker (or a Flow broker from before announcements). */
  onSilentJoin(sender: Key): void {
    if (!this.localPositions.has(sender.toString())) this.declareGo(sender, 'joined without announcing capabilities');
  }

  /** An INFO without an announcement: if it answers one of our queries, the member is a Go broker. */
  onSilentInfo(id: U64): void {
    const text = this.queries.get(id);
    if (text === undefined) return;
    this.queries.delete(id);
    const entry = this.unannounced.get(text);
    if (entry !== undefined) this.declareGo(entry.key, 'answered without announcing capabilities');
  }

  /** Positions that just joined the ring; those of no announced member wait for one. */
  onRegistered(positions: readonly Key[]): void {
    const now = this.host.options.clock.now();
    for (const position of positions) {
      const text = position.toString();
      if (this.nodeOf.has(text) || this.unannounced.has(text) || this.go.has(text)) continue;
      if (this.unannounced.size >= MAX_ENTRIES) return;
      this.unannounced.set(text, { key: position, since: now });
    }
    if (this.unannounced.size > 0) this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.host.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private spend(positions: number): boolean {
    const now = this.host.options.clock.now();
    if (now - this.budgetWindow >= 1000) {
      this.budgetWindow = now;
      this.budgetUsed = 0;
    }
    if (this.budgetUsed + positions > MAX_DERIVED_PER_SECOND) {
      this.lastDeferral = now;
      return false;
    }
    this.budgetUsed += positions;
    return true;
  }

  private remember(node: string, announcement: Announcement, verdict: Verdict, positions?: readonly Key[]): void {
    if (this.members.size >= MAX_ENTRIES) this.members.clear();
    if (this.nodeOf.size >= MAX_ENTRIES) this.nodeOf.clear();
    this.members.set(node, { announcement, verdict, positions });
  }

  private declareGo(key: Key, how: string): void {
    const text = key.toString();
    const entry = this.unannounced.get(text);
    if (entry?.queryId !== undefined) this.queries.delete(entry.queryId);
    this.unannounced.delete(text);
    if (this.go.size >= MAX_ENTRIES) this.go.clear();
    this.go.add(text);
    const { partitionHash, clique } = this.host.options;
    if (partitionHash === 'go-flow') return;
    this.refuse(
      [key],
      new IncompatibleMemberError(
        text,
        `member ${text} of clique "${clique}" ${how}: a Go flow broker, which hashes partition keys with Go flow's ` +
          `variant, while this broker uses partitionHash '${partitionHash}'. Not routing to it, so that no key has two ` +
          "owners. To share a clique with Go brokers, set partitionHash: 'go-flow' on every Flow broker (docs/MIGRATION.md)",
      ),
    );
  }

  /** Silent after the wait and a query: a dead position is suspected, a live one is a Go member. */
  private onSilence(text: string, entry: Unannounced): void {
    this.unannounced.delete(text);
    if (entry.queryId !== undefined) this.queries.delete(entry.queryId);
    void this.host.probe(entry.key).then((alive) => {
      if (this.stopped || !this.host.isMember(entry.key)) return;
      if (alive === false) this.host.suspect(entry.key);
      else this.declareGo(entry.key, `announced no capabilities within ${2 * this.waitMs} ms`);
    });
  }

  private refuse(positions: readonly Key[], error: IncompatibleMemberError): void {
    if (this.refused.size + positions.length > MAX_ENTRIES) this.refused.clear();
    for (const position of positions) this.refused.add(position.toString());
    this.host.unregister(positions);
    this.host.identity.noteIncompatible(error);
  }

  private schedule(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.timer = this.host.options.clock.setTimeout(() => {
      this.timer = undefined;
      this.sweep();
    }, this.waitMs);
  }

  /** Queries members that stayed silent for the wait; declares Go those that stayed silent after the query too. */
  private sweep(): void {
    if (this.stopped) return;
    const now = this.host.options.clock.now();
    for (const [text, entry] of [...this.unannounced]) {
      if (!this.host.isMember(entry.key)) {
        this.unannounced.delete(text);
        if (entry.queryId !== undefined) this.queries.delete(entry.queryId);
      } else if (entry.queriedAt === undefined) {
        if (now - entry.since < this.waitMs) continue;
        entry.queriedAt = now;
        entry.queryId = this.host.query(entry.key);
        this.queries.set(entry.queryId, text);
      } else if (now - entry.queriedAt >= this.waitMs) {
        if (now - this.lastDeferral < 2 * this.waitMs) {
          // Announcements were deferred meanwhile: this one may be among them. Ask again later.
          entry.queriedAt = undefined;
          if (entry.queryId !== undefined) this.queries.delete(entry.queryId);
        } else {
          this.onSilence(text, entry);
        }
      }
    }
    if (this.unannounced.size > 0) this.schedule();
  }
}
