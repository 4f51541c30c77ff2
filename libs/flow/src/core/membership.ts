import { Announcement, appendAnnouncement, readAnnouncement } from './capabilities';
import type { U64 } from './bytes';
import { FlowError, OverloadedError, ProtocolError, TimeoutError } from './errors';
import { encodeFrame, FrameType, JoinFrame, LeaveFrame } from './frame';
import { Identity } from './identity';
import { Key } from './key';
import { MemberCapabilities } from './member-capabilities';
import { ResolvedBrokerOptions } from './options';
import { PendingTable } from './pending';
import { PositionCheck } from './position-check';
import { RoutingTable } from './routing-table';

/** Remote ring positions a broker keeps at most: 16 brokers at the largest virtualNodes (4096). */
export const MAX_REMOTE_MEMBERS = 1 << 16;

/**
 * Unknown positions one INFO may add: what a peer with this broker's number of
 * virtual nodes lists when it answers a JOIN (its predecessor, `successors`
 * successors, itself, and each of its positions). The rest of a longer INFO is
 * ignored and reported: a single frame cannot flood the ring.
 */
export function maxNewPerInfo(options: ResolvedBrokerOptions): number {
  return options.stabilization.successors + 2 + options.virtualNodes;
}

/** Unanswered PINGs after which a member that is still subscribed (hung, not crashed) is suspected. */
const MAX_SILENT_ROUNDS = 3;

/** Membership events, emitted once per ring position. */
export interface MembershipEvents {
  joined: (key: Key) => void;
  left: (key: Key) => void;
  suspected: (key: Key) => void;
}

/** What membership needs from its broker. */
export interface MembershipHost {
  readonly options: ResolvedBrokerOptions;
  /** Our announcement, conflicts and incompatible members (identity.ts). */
  readonly identity: Identity;
  emit(event: keyof MembershipEvents, key: Key): void;
  nextId(): number;
  /** Sends a frame to `<clique>.<key>`. */
  sendTo(key: Key, frame: Uint8Array): void;
  /** Broadcasts a frame on the clique subject. */
  broadcast(frame: Uint8Array): void;
  reportError(error: FlowError): void;
  countTimeout(): void;
  /** True when `key` acknowledged a forward within the last `ms`: alive, if slow. */
  heardWithin(key: Key, ms: number): boolean;
  /** Whether `key`'s node subject still has a subscriber; undefined when the transport cannot tell. */
  probe(key: Key): Promise<boolean | undefined>;
  /** Counts and reports what a probe's continuation threw (it must not become an unhandled rejection). */
  contain(error: unknown, what: string): void;
}

/**
 * The clique protocol of one joined broker: JOIN and INFO on join, LEAV on
 * leave, periodic stabilization by PING, and suspicion of members that stop
 * answering. The routing table is owned here; the broker only reads it.
 */
export class Membership {
  readonly table: RoutingTable;
  /** Hash mode and capabilities of every member; refuses incompatible ones (member-capabilities.ts). */
  readonly capabilities: MemberCapabilities;
  private readonly pings: PendingTable<void>;
  private stabilizationTimer: unknown;
  private stopped = false;
  /**
   * Members we removed (suspected or left), by key text, with the clock time
   * until which INFO may not bring them back. Without this, a member that has
   * not noticed the departure yet lists the dead key in its INFO and every
   * other member re-learns it: the ring flaps instead of converging. A JOIN
   * from the key itself lifts the ban at once.
   */
  private readonly removed = new Map<string, number>();
  private readonly banMs: number;
  /** Consecutive unanswered PINGs to members whose node subject still has a subscriber. */
  private readonly silentRounds = new Map<string, number>();
  /** New positions from the network are checked once; those without a subscriber leave in batches. */
  private readonly check: PositionCheck;
  private readonly maxNewPerInfo: number;

  constructor(
    private readonly host: MembershipHost,
    /** This broker's ring positions (one per virtual node); fixed for its life. */
    readonly positions: readonly Key[],
  ) {
    const { stabilization, clock } = host.options;
    this.table = new RoutingTable({
      local: positions,
      successors: stabilization.successors,
      stabilizers: stabilization.stabilizers,
    });
    this.pings = new PendingTable<void>(clock, 'pings', Number.MAX_SAFE_INTEGER, host.options.ackTimeout);
    this.banMs = Math.max(3 * stabilization.interval, 10 * host.options.ackTimeout);
    this.capabilities = new MemberCapabilities(
      {
        options: host.options,
        identity: host.identity,
        unregister: (keys) => keys.forEach((key) => this.table.unregister(key)),
        isMember: (key) => this.table.ownerOf(key).equals(key),
        query: (key) => {
          const id = host.nextId();
          host.sendTo(key, this.signed(encodeFrame({ type: FrameType.Ping, id, sender: host.options.nodeKey })));
          return id;
        },
        probe: (key) => host.probe(key),
        suspect: (key) => void this.suspect(key),
      },
      positions,
    );
    this.maxNewPerInfo = maxNewPerInfo(host.options);
    this.check = new PositionCheck({
      clock,
      delayMs: host.options.ackTimeout,
      probe: (key) => host.probe(key),
      isMember: (key) => !this.table.isLocal(key) && this.table.ownerOf(key).equals(key),
      remove: (dead) => this.removeDead(dead),
      contain: (error, what) => host.contain(error, what),
    });
  }

  /** Announces every position: one ordinary JOIN each, so Go brokers see ordinary members. */
  announce(): void {
    for (const position of this.positions) this.host.broadcast(this.signed(encodeFrame({ type: FrameType.Join, sender: position })));
  }

  startStabilization(): void {
    const { interval } = this.host.options.stabilization;
    if (interval > 0 && !this.stopped) this.scheduleRound(interval);
  }

  /** Broadcasts LEAV for every position and stops stabilization. Idempotent. */
  leave(): void {
    if (this.stopped) return;
    this.stop();
    for (const position of this.positions) this.host.broadcast(encodeFrame({ type: FrameType.Leave, node: position }));
  }

  /** Stops timers and abandons pending pings, without telling anyone. */
  stop(): void {
    this.stopped = true;
    this.capabilities.stop();
    this.check.stop();
    if (this.stabilizationTimer !== undefined) this.host.options.clock.clearTimeout(this.stabilizationTimer);
    this.stabilizationTimer = undefined;
    this.pings.failAll(new FlowError('FLOW_CLOSED', 'membership stopped'));
  }

  /** Removes a member that failed to answer; true when it was on the ring. */
  suspect(key: Key): boolean {
    if (!this.table.unregister(key)) return false;
    this.ban(key);
    this.host.emit('suspected', key);
    return true;
  }

  /** A suspected position proved alive (a late ACK): back on the ring, ban lifted. */
  readmit(key: Key): void {
    this.removed.delete(key.toString());
    this.register([key]);
  }

  /** A JOIN or LEAV that arrived on the clique subject; `data` is the whole message (for its announcement). */
  onCliqueFrame(frame: JoinFrame | LeaveFrame, data?: Uint8Array): void {
    if (frame.type === FrameType.Join) {
      this.onJoin(frame.sender, data);
    } else if (this.table.isLocal(frame.node)) {
      // A LEAV for one of our positions that we did not send (forged, or stale): say we are here.
      if (!this.stopped) this.host.broadcast(this.signed(encodeFrame({ type: FrameType.Join, sender: frame.node })));
    } else if (this.table.unregister(frame.node)) {
      this.ban(frame.node);
      this.host.emit('left', frame.node);
    }
  }

  /** INFO answers a JOIN (id 0) or one of our PINGs (its id). */
  onInfo(id: U64, neighbours: readonly Key[], data?: Uint8Array): void {
    const announced = this.announcementIn(data);
    if (announced === undefined) this.capabilities.onSilentInfo(id);
    else this.capabilities.learn(announced);
    this.register(this.boundUnknown(neighbours));
    if (id !== 0) this.pings.resolve(id, undefined);
  }

  /** PING addressed to our position `at`: answer with that position's neighbours. */
  onPing(id: U64, sender: Key, at: Key, data?: Uint8Array): void {
    const announced = this.announcementIn(data);
    if (announced !== undefined) this.capabilities.learn(announced);
    const neighbours = this.table.isLocal(at) ? this.table.neighbours(at) : this.table.neighbours(this.positions[0]);
    this.host.sendTo(sender, this.signed(encodeFrame({ type: FrameType.Info, id, neighbours })));
  }

  private onJoin(sender: Key, data: Uint8Array | undefined): void {
    const announced = this.announcementIn(data);
    const verdict = announced === undefined ? undefined : this.capabilities.learn(announced);
    if (verdict === 'self' || verdict === 'twin' || this.table.isLocal(sender)) return;
    if (announced === undefined) this.capabilities.onSilentJoin(sender);
    this.removed.delete(sender.toString());
    // Like Go flow, answer with the view from before the joiner arrived, and
    // list every position of ours so the joiner learns all of them at once.
    const listed = new Set<string>();
    const neighbours: Key[] = [];
    for (const key of [...this.table.neighbours(this.positions[0]), ...this.positions]) {
      const text = key.toString();
      if (!listed.has(text)) {
        listed.add(text);
        neighbours.push(key);
      }
    }
    this.register([sender]);
    this.host.sendTo(sender, this.signed(encodeFrame({ type: FrameType.Info, id: 0, neighbours })));
  }

  /** `frame` with our announcement after it: every JOIN, INFO and PING carries it (capabilities.ts). */
  private signed(frame: Uint8Array): Uint8Array {
    return appendAnnouncement(frame, this.host.identity.encoded);
  }

  private announcementIn(data: Uint8Array | undefined): Announcement | undefined {
    if (data === undefined) return undefined;
    try {
      return readAnnouncement(data);
    } catch (error) {
      this.host.reportError(error instanceof FlowError ? error : new ProtocolError('announcement', String(error)));
      return undefined;
    }
  }

  private register(keys: readonly Key[]): void {
    let admitted =
      this.removed.size === 0 && !this.capabilities.refusesAny()
        ? keys
        : keys.filter((key) => !this.isBanned(key) && !this.capabilities.isRefused(key));
    const room = MAX_REMOTE_MEMBERS - this.table.remoteCount();
    if (admitted.length > room) {
      // A frame from the network must not grow the ring without limit: keep what fits, say so.
      this.host.reportError(
        new OverloadedError(`ring members (an INFO or JOIN listed ${admitted.length}, room for ${Math.max(0, room)})`, MAX_REMOTE_MEMBERS),
      );
      admitted = admitted.slice(0, Math.max(0, room));
    }
    const added = this.table.register(admitted);
    for (const key of added) this.host.emit('joined', key);
    this.capabilities.onRegistered(added);
    this.check.enqueue(added);
  }

  /** At most maxNewPerInfo positions not on the ring yet; the known ones all pass. */
  private boundUnknown(keys: readonly Key[]): readonly Key[] {
    if (keys.length <= this.maxNewPerInfo) return keys;
    const kept: Key[] = [];
    let unknown = 0;
    for (const key of keys) {
      const known = this.table.ownerOf(key).equals(key);
      if (known || unknown++ < this.maxNewPerInfo) kept.push(key);
    }
    if (unknown > this.maxNewPerInfo) {
      this.host.reportError(
        new OverloadedError(`new ring positions in one INFO (it listed ${unknown} unknown, kept ${this.maxNewPerInfo})`, this.maxNewPerInfo),
      );
    }
    return kept;
  }

  /** Positions without a subscriber on their node subject: never brokers, or gone. Removed and banned together. */
  private removeDead(dead: readonly Key[]): void {
    let removed = 0;
    for (const key of dead) if (this.suspect(key)) removed++;
    if (removed > 0) {
      this.host.reportError(
        new FlowError('FLOW_PROTOCOL', `removed ${removed} ring positions learned from the network that have no subscriber (forged or stale)`),
      );
    }
  }

  private noteSilence(key: Key): number {
    const text = key.toString();
    const rounds = (this.silentRounds.get(text) ?? 0) + 1;
    this.silentRounds.set(text, rounds);
    return rounds;
  }

  private ban(key: Key): void {
    this.silentRounds.delete(key.toString());
    this.removed.set(key.toString(), this.host.options.clock.now() + this.banMs);
  }

  private isBanned(key: Key): boolean {
    const text = key.toString();
    const until = this.removed.get(text);
    if (until === undefined) return false;
    if (until > this.host.options.clock.now()) return true;
    this.removed.delete(text);
    return false;
  }

  private scheduleRound(interval: number): void {
    this.stabilizationTimer = this.host.options.clock.setTimeout(() => {
      this.stabilizationTimer = undefined;
      if (this.stopped) return;
      for (const target of this.table.stabilizers()) this.ping(target);
      this.scheduleRound(interval);
    }, interval);
  }

  /**
   * PINGs `target`; on timeout it is suspected and the member that now
   * follows it is pinged at once, so a run of dead positions (a crashed
   * broker's virtual nodes) is walked without waiting for later rounds.
   */
  private ping(target: Key): void {
    const { ackTimeout } = this.host.options;
    const id = this.host.nextId();
    this.pings.add(
      id,
      ackTimeout,
      () => new TimeoutError('ping', ackTimeout),
      (error) => {
        if (error === undefined) this.silentRounds.delete(target.toString());
        if (error === undefined || !(error instanceof TimeoutError) || this.stopped) return;
        this.host.countTimeout();
        // A member busy acknowledging our forwards is alive; its INFO is queued behind them.
        if (this.host.heardWithin(target, ackTimeout)) return;
        void this.host
          .probe(target)
          .then((alive) => {
            // Subscribed but silent: a busy member, or a hung one; the next silent rounds decide.
            if (this.stopped || (alive === true && this.noteSilence(target) < MAX_SILENT_ROUNDS)) return;
            if (!this.suspect(target)) return;
            const next = this.table.ownerOf(target);
            if (!this.table.isLocal(next)) this.ping(next);
          })
          .catch((error: unknown) => this.host.contain(error, 'ping probe'));
      },
    );
    this.host.sendTo(target, this.signed(encodeFrame({ type: FrameType.Ping, id, sender: this.host.options.nodeKey })));
  }
}
