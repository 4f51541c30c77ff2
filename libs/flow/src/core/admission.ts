/**
 * Admission of the ring positions a joined broker learns from the network
 * (JOINs, INFOs, PINGs, late ACKs) to membership's routing table: which of
 * them it takes, within what bounds, and the one check that removes those no
 * broker subscribes (forged, or stale in a peer's view).
 */
import { FlowError, OverloadedError } from './errors';
import type { Key } from './key';
import type { Liveness } from './liveness';
import type { MemberCapabilities } from './member-capabilities';
import type { ResolvedBrokerOptions } from './options';
import { PositionCheck } from './position-check';
import type { RoutingTable } from './routing-table';

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

/** What admission needs from the broker: a MembershipHost is one. */
export interface AdmissionHost {
  readonly options: ResolvedBrokerOptions;
  emit(event: 'joined', key: Key): void;
  reportError(error: FlowError): void;
  /** Whether `key`'s node subject still has a subscriber; undefined when the transport cannot tell. */
  probe(key: Key): Promise<boolean | undefined>;
  contain(error: unknown, what: string): void;
}

/**
 * Tombstoned and refused positions stay off the ring, one INFO adds at most
 * maxNewPerInfo unknown positions and the ring holds at most
 * MAX_REMOTE_MEMBERS; every position it takes is checked once for a
 * subscriber (position-check.ts), and those without one leave together.
 */
export class Admission {
  /** New positions from the network are checked once; those without a subscriber leave in batches. */
  private readonly check: PositionCheck;
  private readonly maxNewPerInfo: number;
  /** A member's announced positions (by the list MemberCapabilities keeps) -> the ring's removals when all were found on it. */
  private readonly allMembers = new WeakMap<readonly Key[], number>();

  constructor(
    private readonly host: AdmissionHost,
    /** Membership's routing table, the one this admits to. */
    private readonly table: RoutingTable,
    /** Tombstones of removed positions, and who was heard from. */
    private readonly liveness: Liveness,
    /** Refused (incompatible) members, and the positions each Flow member announced. */
    private readonly capabilities: MemberCapabilities,
    /** Removes a position and every other position of its node (Membership.suspect); true when any was a member. */
    private readonly suspect: (key: Key) => boolean,
  ) {
    this.maxNewPerInfo = maxNewPerInfo(host.options);
    this.check = new PositionCheck({
      clock: host.options.clock,
      delayMs: host.options.ackTimeout,
      probe: (key) => host.probe(key),
      nodeOf: (key) => this.listedBy(key),
      isMember: (key) => !this.table.isLocal(key) && this.table.ownerOf(key).equals(key),
      remove: (dead) => this.removeDead(dead),
      contain: (error, what) => host.contain(error, what),
    });
  }

  stop(): void {
    this.check.stop();
  }

  /** Puts on the ring what of `keys` it may take: emits 'joined' for each new position and queues it for its check. */
  register(keys: readonly Key[]): void {
    let admitted =
      !this.liveness.buriesAny() && !this.capabilities.refusesAny()
        ? keys
        : keys.filter((key) => !this.liveness.isBuried(key) && !this.capabilities.isRefused(key));
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

  /** `sender` JOINed: it speaks for itself, so its tombstones go, and it joins. */
  joinedBy(sender: Key): void {
    this.liveness.exhume(sender);
    this.liveness.heard(sender);
    this.register([sender]);
  }

  /** A removed position's broker proved alive itself (a late ACK, its own PING): its positions are back. */
  readmit(key: Key): void {
    this.liveness.heard(key);
    const raised = this.liveness.exhume(key);
    this.register(raised.length > 0 ? raised : [key]);
  }

  /** A stabilization PING from `sender` (not a transport probe): the sender speaks for itself. */
  pingedBy(sender: Key): void {
    // A removal of it, or of any position of its node (a PING's sender is a node key, a LEAV names positions), was wrong.
    if (!this.table.isLocal(sender) && this.liveness.buriesAny()) {
      const raised = this.liveness.exhume(sender);
      if (raised.length > 0) {
        this.liveness.heard(sender);
        this.register(raised);
      }
    }
    this.announcedBy(sender);
  }

  /**
   * A compatible Flow member (`node`, its node key) announced itself: its
   * announcement names all its positions, and one we never learned (its JOIN
   * or an INFO listing it was lost) joins now. Without it, a broker that
   * knew some of a member's positions owned the keys of the others, beside
   * that member (simulation seed 201018: four brokers started together, and
   * one missed three JOINs of another).
   */
  announcedBy(node: Key): void {
    const own = this.capabilities.positionsOf(node);
    // Found all on the ring, and none has left since: a member announces itself in every JOIN, INFO and PING.
    if (own === undefined || this.allMembers.get(own) === this.table.removals) return;
    if (own.some((position) => !this.table.isMember(position))) this.register(own);
    else this.allMembers.set(own, this.table.removals);
  }

  /** At most maxNewPerInfo positions not on the ring yet; the known ones all pass. */
  boundUnknown(keys: readonly Key[]): readonly Key[] {
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

  /** The node key text of the compatible Flow member whose announcement lists `key` now, else `key`'s own text. */
  private listedBy(key: Key): string {
    const node = this.capabilities.of(key)?.nodeKey;
    if (node === undefined) return key.toString();
    return this.capabilities.positionsOf(node)?.some((position) => position.equals(key)) === true ? node.toString() : key.toString();
  }
}
