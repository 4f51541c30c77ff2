import { Admission } from './admission';
import { Announcement, ANNOUNCEMENT_SIZE, appendAnnouncement, readAnnouncement } from './capabilities';
import type { U64 } from './bytes';
import { FlowError, ProtocolError } from './errors';
import { encodeFrame, FRAME_HEADER_SIZE, FrameType, JoinFrame, LeaveFrame } from './frame';
import { Identity } from './identity';
import { JoinAnswer, TakenAnswers } from './join-answer';
import { Key, KEY_SIZE } from './key';
import { Liveness, tombstoneMs, Verdict } from './liveness';
import { MemberCapabilities } from './member-capabilities';
import { ResolvedBrokerOptions } from './options';
import { RoutingTable } from './routing-table';


/**
 * Positions one signed INFO (with our announcement) may list within the
 * transport's max payload `limit`: all of them without a limit, at least one.
 */
export function positionsPerInfo(limit: number | undefined): number {
  if (limit === undefined) return Infinity;
  return Math.max(1, Math.floor((limit - FRAME_HEADER_SIZE - 8 - ANNOUNCEMENT_SIZE) / KEY_SIZE));
}

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
  /** The transport's max payload (PubSub.maxPayload): an answer to a JOIN that would exceed it goes as several INFOs. */
  maxPayload(): number | undefined;
  /** Sends a frame to `<clique>.<key>`; `onNoResponders` when nobody subscribes it. Returns a function that stops listening. */
  request(key: Key, frame: Uint8Array, onNoResponders: () => void): () => void;
  /** Broadcasts a frame on the clique subject. */
  broadcast(frame: Uint8Array): void;
  reportError(error: FlowError): void;
  /** True when `key` acknowledged a forward within the last `ms`: alive, if slow. */
  heardWithin(key: Key, ms: number): boolean;
  /** A JOIN from `position` (not ours): a broker (re)started there. */
  joinedBy?(position: Key): void;
  /** Whether `key`'s node subject still has a subscriber; undefined when the transport cannot tell. */
  probe(key: Key): Promise<boolean | undefined>;
  /** Counts and reports what a probe's continuation threw (it must not become an unhandled rejection). */
  contain(error: unknown, what: string): void;
}

/**
 * The clique protocol of one joined broker: JOIN and INFO on join, LEAV on
 * leave, periodic stabilization by PING, and removal of members found dead.
 * The routing table is owned here; the broker only reads it.
 *
 * Stabilization costs per broker, not per position: each round probes every
 * remote member node once (one position stands for all positions of an
 * announced Flow broker; a Go broker is one position), so a broker sends
 * (nodes - 1) PINGs per interval and answers as many. A node found dead
 * (liveness.ts) leaves the ring with all its positions at once, which are
 * tombstoned; the finder broadcasts their LEAV so that every member, Go
 * brokers too, drops them without waiting for its own round. A live broker
 * that hears a LEAV for itself answers with JOIN (see onCliqueFrame), so a
 * false verdict heals within a round trip.
 */
export class Membership {
  readonly table: RoutingTable;
  /** Hash mode and capabilities of every member; refuses incompatible ones (member-capabilities.ts). */
  readonly capabilities: MemberCapabilities;
  /** Who lives, and the tombstones of removed positions; shared with the forwarder. */
  readonly liveness: Liveness;
  private stabilizationTimer: unknown;
  private stopped = false;
  /** leave() ran: this broker is draining, no longer a member (see remindLeft). */
  private left = false;
  private lastReminder = -Infinity;
  private readonly joinAnswer: JoinAnswer;
  private readonly takenAnswers: TakenAnswers;
  /** Which positions learned from the network the ring takes, and the check that removes unproven ones. */
  private readonly admission: Admission;

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
    this.liveness = new Liveness({
      clock,
      ackTimeout: host.options.ackTimeout,
      tombstoneMs: tombstoneMs(stabilization.interval),
      nextId: () => host.nextId(),
      sendPing: (key, id, onNoResponders) =>
        host.request(key, this.signed(encodeFrame({ type: FrameType.Ping, id, sender: host.options.nodeKey })), onNoResponders),
      nodeOf: (key) => this.nodeOf(key),
      heardWithin: (key, ms) => host.heardWithin(key, ms),
    });
    this.admission = new Admission(host, this.table, this.liveness, this.capabilities, (key) => this.suspect(key));
    this.joinAnswer = new JoinAnswer(positions, (frame) => this.signed(frame));
    this.takenAnswers = new TakenAnswers(this.table);
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
    this.left = true;
    this.broadcastLeave();
  }

  /**
   * Probes a forward's owner by liveness PING; undefined once this broker
   * left (the caller probes by subscriber then): its PING would tell the
   * owner it is a member still, and put its positions back on that owner's
   * ring until the next LEAV reminder, round after round (seed 220714).
   */
  probeOwner(key: Key): Promise<Verdict> | undefined {
    return this.left ? undefined : this.liveness.probe(key);
  }

  /**
   * Whether `key`'s broker answered nothing for `ms`, as a sign of death this
   * broker acts on. Never once it left: probing by subscriber only, it takes
   * silence for no proof, and suspects only an owner proven gone; a quiet one
   * taken for dead could leave it alone on its ring, running what it routes.
   */
  silentFor(key: Key, ms: number): boolean {
    return !this.left && !this.liveness.answeredWithin(key, ms);
  }

  /**
   * After leave(), while this broker drains: a member (or publisher) that
   * still routes to us missed our LEAV, and whose view keeps us, relays what
   * we send it back here (a routing loop, each hop a new forward). Whatever
   * of ours it sends (a FWD, a stabilization PING) makes us broadcast the LEAV
   * again: at once for the first, then at most once per ackTimeout. The LEAV
   * goes out before we relay that FWD, so the sender drops us before the
   * relay reaches it. False before leave().
   */
  remindLeft(): boolean {
    if (!this.left) return false;
    const now = this.host.options.clock.now();
    if (now - this.lastReminder >= this.host.options.ackTimeout) {
      this.lastReminder = now;
      this.broadcastLeave();
    }
    return true;
  }

  private broadcastLeave(): void {
    for (const position of this.positions) this.host.broadcast(encodeFrame({ type: FrameType.Leave, node: position }));
  }

  /** Stops timers and abandons pending pings, without telling anyone. */
  stop(): void {
    this.stopped = true;
    this.capabilities.stop();
    this.admission.stop();
    if (this.stabilizationTimer !== undefined) this.host.options.clock.clearTimeout(this.stabilizationTimer);
    this.stabilizationTimer = undefined;
    this.liveness.stop();
  }

  /**
   * Removes `key` and every other position of its node from the ring, with a
   * tombstone each, and emits 'suspected' for each; true when any was a member.
   */
  suspect(key: Key): boolean {
    const node = this.nodeOf(key);
    const gone = this.positionsOf(node, key).filter((position) => this.table.unregister(position));
    if (gone.length === 0) return false;
    this.liveness.bury(gone, node);
    for (const position of gone) this.host.emit('suspected', position);
    return true;
  }

  /** `key`'s node was proven dead: removed here, and LEAV broadcast for it when this broker noticed first. */
  declareDead(key: Key): boolean {
    const node = this.nodeOf(key);
    const gone = this.positionsOf(node, key).filter((position) => this.table.isMember(position));
    if (!this.suspect(key)) return false;
    if (!this.stopped) for (const position of gone) this.host.broadcast(encodeFrame({ type: FrameType.Leave, node: position }));
    return true;
  }

  /** A removed position's broker proved alive itself (a late ACK, its own PING): its positions are back. */
  readmit(key: Key): void {
    this.admission.readmit(key);
  }

  /** A JOIN or LEAV that arrived on the clique subject; `data` is the whole message (for its announcement). */
  onCliqueFrame(frame: JoinFrame | LeaveFrame, data?: Uint8Array): void {
    if (frame.type === FrameType.Join) {
      this.onJoin(frame.sender, data);
    } else if (this.table.isLocal(frame.node)) {
      // A LEAV for one of our positions that we did not send (forged, or stale): say we are here.
      if (!this.stopped) this.host.broadcast(this.signed(encodeFrame({ type: FrameType.Join, sender: frame.node })));
    } else if (this.table.unregister(frame.node)) {
      this.liveness.bury([frame.node], this.nodeOf(frame.node));
      this.host.emit('left', frame.node);
    }
  }

  /**
   * INFO answers a JOIN (id 0) or one of our PINGs (its id). `asked`: it
   * answers our view question (handoff.ts), which lists every member: not
   * bounded per INFO (new positions are still probed once, position-check.ts).
   */
  onInfo(id: U64, neighbours: readonly Key[], data?: Uint8Array, asked = false): void {
    const announced = this.announcementIn(data);
    const verdict = announced === undefined ? undefined : this.capabilities.learn(announced);
    if (announced === undefined) this.capabilities.onSilentInfo(id);
    if (id !== 0) this.liveness.onAnswer(id);
    // An answer to one of our JOINs from a Flow member: the same for each (join-answer.ts), taken whole once.
    const answerer = id === 0 && !asked && verdict === 'compatible' ? announced!.nodeKey.toString() : undefined;
    if (answerer === undefined || !this.takenAnswers.repeats(answerer, data!)) {
      this.admission.register(asked ? neighbours : this.admission.boundUnknown(neighbours));
      if (answerer !== undefined) this.takenAnswers.took(answerer, data!, neighbours);
    }
    if (verdict === 'compatible') this.admission.announcedBy(announced!.nodeKey);
  }

  /** PING addressed to our position `at`: answer with that position's neighbours. */
  onPing(id: U64, sender: Key, at: Key, data?: Uint8Array): void {
    // A stabilization PING to a broker that left: no INFO (it would list us), our LEAV again. Probes (id 0) are answered.
    if (id !== 0 && this.remindLeft()) return;
    const announced = this.announcementIn(data);
    if (announced !== undefined) this.capabilities.learn(announced);
    // Stabilization PINGs (id 0 is a transport probe): the sender speaks for itself.
    if (id !== 0) this.admission.pingedBy(sender);
    const neighbours = this.table.isLocal(at) ? this.table.neighbours(at) : this.table.neighbours(this.positions[0]);
    this.host.sendTo(sender, this.signed(encodeFrame({ type: FrameType.Info, id, neighbours })));
  }

  private onJoin(sender: Key, data: Uint8Array | undefined): void {
    const announced = this.announcementIn(data);
    const verdict = announced === undefined ? undefined : this.capabilities.learn(announced);
    if (verdict === 'self' || verdict === 'twin' || this.table.isLocal(sender)) return;
    this.host.joinedBy?.(sender);
    if (announced === undefined) this.capabilities.onSilentJoin(sender);
    // Like Go flow, answer with the view from before the joiner arrived, and
    // list every position of ours so the joiner learns all of them at once.
    const around = this.table.neighbours(this.positions[0]);
    this.admission.joinedBy(sender);
    if (verdict === 'compatible') this.admission.announcedBy(announced!.nodeKey);
    for (const frame of this.joinAnswer.frames(around, positionsPerInfo(this.host.maxPayload()))) this.host.sendTo(sender, frame);
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

  /** The node (broker) of a position: its announced node key, or the position itself (Go brokers, unannounced). */
  private nodeOf(key: Key): string {
    return this.capabilities.of(key)?.nodeKey.toString() ?? key.toString();
  }

  /** The ring members of `node`; just `key` for a node we know only by this position. */
  private positionsOf(node: string, key: Key): Key[] {
    if (node === key.toString() && this.capabilities.of(key) === undefined) return [key];
    return this.table.members().filter((position) => !this.table.isLocal(position) && this.nodeOf(position) === node);
  }

  private scheduleRound(interval: number): void {
    this.stabilizationTimer = this.host.options.clock.setTimeout(() => {
      this.stabilizationTimer = undefined;
      if (this.stopped) return;
      for (const target of this.targets()) this.checkLife(target);
      this.scheduleRound(interval);
    }, interval);
  }

  /** One position per remote node, in ring order. */
  private targets(): Key[] {
    const seen = new Set<string>();
    const targets: Key[] = [];
    for (const position of this.table.members()) {
      if (this.table.isLocal(position)) continue;
      const node = this.nodeOf(position);
      if (seen.has(node)) continue;
      seen.add(node);
      targets.push(position);
    }
    return targets;
  }

  /**
   * Probes `target`'s node; a silent one is probed again at once, so that
   * silence is judged within MAX_SILENT_PROBES ackTimeouts, not rounds.
   */
  private checkLife(target: Key): void {
    this.liveness
      .probe(target)
      .then((verdict) => {
        if (this.stopped || !this.table.isMember(target)) return;
        if (verdict === 'dead') this.declareDead(target);
        else if (verdict === 'silent') this.checkLife(target);
      })
      .catch((error: unknown) => this.host.contain(error, 'stabilization probe'));
  }
}
