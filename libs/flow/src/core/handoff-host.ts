import type { BrokerCounters } from './broker-counters';
import type { FlowError } from './errors';
import type { MsgPayload } from './frame';
import type { Key } from './key';
import type { Interval } from './key-ranges';
import type { Membership } from './membership';
import type { ResolvedBrokerOptions } from './options';
import type { Ownership } from './ownership';
import type { NodeSubjects } from './subjects';

/** Unanswered queries after which a new owner stops waiting for a previous owner that speaks handoff. */
export const HANDOFF_PATIENCE = 4;
/** A hold on intervals this broker gave up stays, as a record for redirects, at most this many ackTimeouts. */
export const HANDOFF_RECORD_ACK_TIMEOUTS = 2;
/** Whatever the answers say, a new owner waits at most this many ackTimeouts for one previous owner. */
export const HANDOFF_MAX_ACK_TIMEOUTS = 60;

export interface HandoffHost {
  readonly options: ResolvedBrokerOptions;
  readonly counters: BrokerCounters;
  readonly nodeSubjects: NodeSubjects;
  /** The owned intervals (servedIntervals: none while draining); settle() once the ring is learned. */
  readonly ownership: Pick<Ownership, 'servedIntervals' | 'settle'>;
  /** The joined broker's membership: members' announcements (who speaks handoff), the ring (whom to bid farewell). */
  membership(): Pick<Membership, 'capabilities' | 'table'> | undefined;
  /** Scheduler lanes with work queued or running (sync slots when syncPartitions is on: answers say "all"). */
  busyLanes(): Iterable<number>;
  /** Routes a released message by the broker's current view. */
  route(msg: MsgPayload): void;
  drop(msg: MsgPayload, error: FlowError): void;
  send(subject: string, frame: Uint8Array): void;
  /** The transport's max payload (PubSub.maxPayload): an answer that would list more lanes than fit says "all lanes". */
  maxPayload(): number | undefined;
  /** Publishes; `onNoResponders` runs when the transport knows nobody listens. */
  request(subject: string, frame: Uint8Array, onNoResponders: () => void): () => void;
  /** Runs `task` once the input that has arrived by now is read (PubSub.afterInput). */
  afterInput(task: () => void): void;
  report(kind: string, error: FlowError): void;
}


export interface Hold {
  readonly token: number;
  /** The previous owner's node key (or its position while its announcement is unknown): queries go there. */
  readonly from: Key;
  /** One ring position of it: its announcement is looked up by position. */
  readonly position: Key;
  /** Intervals the previous owner has not released yet: every key there waits. */
  pending: Interval[];
  /** Intervals released: only keys of draining lanes wait. */
  released: Interval[];
  /** Lanes the previous owner still runs; undefined: all of them. */
  lanes: Set<number> | undefined;
  readonly held: MsgPayload[];
  readonly since: number;
  asked: number;
  lastQuery: number;
  /** Known to speak handoff: it answered, or announced it. */
  speaks: boolean;
  /** It answered at least once. */
  answered: boolean;
  /** Asked because another previous owner redirected us: only its busy lanes count, not what it still owns. */
  readonly redirected: boolean;
  /** Set once this broker owns none of the hold's intervals: kept as a record for redirects until then. */
  recordUntil: number | undefined;
  stopWatching: () => void;
}
