import type { U64 } from './bytes';
import { Announcement, appendAnnouncement, encodeAnnouncement, LOCAL_CAPABILITIES } from './capabilities';
import { FlowError, IncompatibleMemberError, NodeConflictError } from './errors';
import { encodeFrame, FrameType } from './frame';
import { Key, randomKey } from './key';
import { ResolvedBrokerOptions } from './options';
import { PubSub } from './pubsub';
import { findLiveTwin } from './twin-probe';
import { nodeSubject } from './subjects';


export interface IdentityEvents {
  /** Another broker tried to take, or holds, this broker's node key or a ring position. */
  conflict: (error: NodeConflictError) => void;
}

/** What the health indicator shows about identity and compatibility. */
export interface IdentityReport {
  /** Conflicts seen: refused starts of this broker, attempts by others to take its identity, live twins. */
  readonly conflicts: number;
  readonly lastConflict: NodeConflictError | undefined;
  /** Members refused for routing because they hash differently or are Go brokers outside 'go-flow' mode. */
  readonly incompatibleMembers: number;
  readonly lastIncompatible: IncompatibleMemberError | undefined;
}

/** Incompatible members remembered for the report; beyond it the oldest is forgotten. */
const MAX_REMEMBERED = 1024;

/** Conflicts are counted always, but emitted and reported at most once per interval (forged notices). */
const CONFLICT_REPORT_INTERVAL_MS = 1000;

/**
 * One broker's identity in its clique: its announcement (capabilities.ts), the
 * check that refuses a start when its node key or a ring position is already
 * live, and the record of conflicts and incompatible members.
 *
 * Conflict notices: a broker refused at start sends one PING to the live
 * subject `<clique>.<K>` with `sender = K`. No broker pings its own key, so the
 * live broker reads it as an attempt on its identity, reports it, and does not
 * answer. The check itself (twin-probe.ts) proves a twin by its answer to an
 * identity-check PING, which every Flow broker gives, joined or not
 * (answerCheck), so an operator's subscriber on `<clique>.>` refuses nobody.
 */
export class Identity {
  readonly announcement: Announcement;
  /** The announcement as appended to frames; built once. */
  readonly encoded: Uint8Array;
  private conflictCount = 0;
  private lastConflict: NodeConflictError | undefined;
  private readonly incompatible = new Map<string, IncompatibleMemberError>();
  private lastIncompatible: IncompatibleMemberError | undefined;
  private lastReportedConflictAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly options: ResolvedBrokerOptions,
    private readonly pubsub: PubSub,
    /** The broker's events, for `conflict`. */
    private readonly events: { emit(event: 'conflict', error: NodeConflictError): void },
    private readonly reportError: (error: FlowError) => void,
  ) {
    const { nodeKey, virtualNodes, partitionHash } = options;
    this.announcement = Object.freeze({
      nodeKey,
      virtualNodes,
      partitionHash,
      capabilities: LOCAL_CAPABILITIES,
      instance: randomKey(),
    });
    this.encoded = encodeAnnouncement(this.announcement);
  }

  /**
   * Resolves when no broker holding one of `keys` answers (twin-probe.ts: a
   * subscriber alone, such as an operator's `nats sub '<clique>.>'`, is not a
   * twin); rejects with NodeConflictError, and notifies the live broker, when
   * one answers. Keys are probed together, within one ackTimeout.
   */
  async check(keys: readonly Key[]): Promise<void> {
    const twin = await findLiveTwin(this.pubsub, this.options, keys);
    if (twin === undefined) return;
    const { clique } = this.options;
    const { key, announcement } = twin;
    const who = announcement === undefined ? 'a broker' : `a broker (instance ${announcement.instance}, node key ${announcement.nodeKey})`;
    const error = this.conflict(
      key,
      `cannot join clique "${clique}": ${this.describeSelf()}, and ${this.describeKey(key)} is already live ` +
        `(${who} answered on ${clique}.${key}). Another broker runs with this identity: give each broker a distinct nodeName or nodeKey`,
      false,
    );
    try {
      this.pubsub.publish(nodeSubject(clique, key), encodeFrame({ type: FrameType.Ping, id: 0, sender: key }));
    } catch {
      // The notice is a courtesy to the live broker; the refusal stands without it.
    }
    throw error;
  }

  /**
   * The answer to an identity-check PING with `id` at any of our subjects, as
   * a publisher-only broker gives it too: an INFO with that id, no keys, and
   * our announcement. Sent to the PING's sender.
   */
  answerCheck(id: U64): Uint8Array {
    return appendAnnouncement(encodeFrame({ type: FrameType.Info, id, neighbours: [] }), this.encoded);
  }

  /** True when a PING at our subject `at` is a conflict notice (sender = at); it is then reported here. */
  onPing(sender: Key, at: Key): boolean {
    if (!sender.equals(at)) return false;
    const { clique } = this.options;
    this.conflict(
      at,
      `a broker tried to join clique "${clique}" with key ${at}, which this broker holds as its ` +
        `${this.describeKey(at).replace(/ [0-9a-f]{16}$/, '')} (${this.describeSelf()}); it was refused. ` +
        'Give each broker a distinct nodeName or nodeKey',
      true,
    );
    return true;
  }

  /** A broker that announced another instance of our identity (both joined): reported, not routed around. */
  onTwin(twin: Announcement, key: Key): void {
    const { clique } = this.options;
    this.conflict(
      key,
      `another broker in clique "${clique}" announces ${this.describeKey(key)} (instance ${twin.instance}, node key ` +
        `${twin.nodeKey}), which this broker holds (${this.describeSelf()}): both own the same keys. ` +
        'Stop one of them and give each broker a distinct nodeName or nodeKey',
      true,
    );
  }

  /** Records (and reports once) a member refused for routing. */
  noteIncompatible(error: IncompatibleMemberError): void {
    if (this.incompatible.has(error.member)) return;
    if (this.incompatible.size >= MAX_REMEMBERED) this.incompatible.delete(this.incompatible.keys().next().value!);
    this.incompatible.set(error.member, error);
    this.lastIncompatible = error;
    this.reportError(error);
  }

  /** A refused member turned out compatible (it announced the same hash mode). */
  clearIncompatible(member: string): void {
    this.incompatible.delete(member);
  }

  report(): IdentityReport {
    return Object.freeze({
      conflicts: this.conflictCount,
      lastConflict: this.lastConflict,
      incompatibleMembers: this.incompatible.size,
      lastIncompatible: this.lastIncompatible,
    });
  }

  /** Records a conflict; `notify` emits and reports it (a refused start only rejects, its caller reports). */
  private conflict(key: Key, message: string, notify: boolean): NodeConflictError {
    const { nodeKey, nodeKeyFrom: nodeName } = this.options;
    const error = new NodeConflictError(String(nodeKey), nodeName, String(key), message);
    this.conflictCount++;
    this.lastConflict = error;
    const now = this.options.clock.now();
    if (notify && now - this.lastReportedConflictAt >= CONFLICT_REPORT_INTERVAL_MS) {
      this.lastReportedConflictAt = now;
      this.events.emit('conflict', error);
      this.reportError(error);
    }
    return error;
  }

  private describeSelf(): string {
    const { nodeKey, nodeKeyFrom: nodeName } = this.options;
    return `node key ${nodeKey}${nodeName === undefined ? '' : ` (nodeName "${nodeName}")`}`;
  }

  private describeKey(key: Key): string {
    return key.equals(this.options.nodeKey) ? `node key ${key}` : `ring position ${key}`;
  }
}
