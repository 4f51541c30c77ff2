import type { U64 } from './bytes';
import type { BrokerCounters } from './broker-counters';
import type { FlowError } from './errors';
import { Allocate, decodeFrame, FwdFrame, MsgPayload } from './frame';
import type { Key } from './key';
import { partitionLane } from './partition-scheduler';
import type { ResolvedBrokerOptions } from './options';
import type { MessageHeaders } from './pubsub';
import type { StreamKind } from './publish-wire';
import type { NodeSubjects } from './subjects';

/** What the publisher needs from its broker. */
export interface PublisherHost {
  readonly options: ResolvedBrokerOptions;
  readonly counters: BrokerCounters;
  readonly allocate: Allocate;
  /** Node subjects by key, cached (one string per owner rather than per message). */
  readonly nodeSubjects: NodeSubjects;
  /** Direct FWDs to one owner in one turn go as one batch when it takes them (forward-batches.ts). */
  readonly batchForwards: boolean;
  /** The transport's max payload (PubSub.maxPayload): batches stay within it. */
  maxPayload(): number | undefined;
  nextId(): number;
  send(subject: string, frame: Uint8Array, headers?: MessageHeaders): boolean;
  /** The owner of `partition` for a direct send on `stream`; undefined when the broker cannot send it direct. */
  ownerOf(stream: string, kind: StreamKind, partition: Key): Key | undefined;
  /** True for this broker's own ring positions (a joined broker): such messages are dispatched here. */
  isLocal(key: Key): boolean;
  /** Runs a message this broker owns, as a stream message taken from the queue group would be. */
  dispatchLocal(msg: MsgPayload): void;
  /** Sends a message the way foreign publishers do: on the stream subject, to the queue group. */
  viaQueueGroup(msg: MsgPayload): void;
  /** True while a publisher-only broker awaits its first view answer (ring-view.ts): keyed publishes wait. */
  viewAwaited(): boolean;
  /** Calls `listener` once when the view is answered or no longer awaited; only while viewAwaited(). */
  whenViewSettled(listener: () => void): void;
  /** Removes a ring position from the broker's view (found dead). */
  suspect(key: Key): void;
  /** Whether `key`'s node subject still has a subscriber (PubSub.hasSubscribers). */
  probe(key: Key): Promise<boolean | undefined>;
  /** Whether this broker's transport is down now (TransportGate). */
  linkDown(): boolean;
  /** How many times this broker's transport went down so far. */
  linkDowns(): number;
  /** A direct request reached `owner`'s subject: FLOW_OWNER_LOST if that owner is found dead. */
  delivered(owner: Key, msg: MsgPayload): void;
  reportError(error: FlowError): void;
  contain(error: unknown, what: string): void;
}

/**
 * A publish with acknowledgement, from publish() until its owner reports it
 * handled. Until its first send it keeps the message; from then on only the
 * FWD as encoded then (a snapshot: later changes to the caller's bytes do not
 * reach a retry), and the message is decoded from it again if it has to leave
 * the direct path. Fewer objects per publish survive until handled.
 */
export interface Entry {
  readonly id: U64;
  readonly stream: string;
  readonly headers: MessageHeaders | undefined;
  /** The message until the first send, then undefined. */
  msg: MsgPayload | undefined;
  /** The FWD last sent (from the first send on), whose trailer names `wireAfter`. */
  wire: Uint8Array | undefined;
  wireAfter: U64 | undefined;
  readonly partition: Key;
  readonly lane: number;
  /** Where it was sent last; undefined while it waits behind its lane. */
  owner: Key | undefined;
  ownerText: string;
  /** Clock time of the last send, or of the acceptance. */
  since: number;
  /** Sends to the current owner without an answer. */
  tries: number;
  accepted: boolean;
  /** The lane it is open in (publish-lanes.ts), while it is: closing it needs no lookup. */
  openIn: Lane | undefined;
  /** The lane's open messages at one owner, in publish order (a linked list): `prev` is named in each send. */
  prev: Entry | undefined;
  next: Entry | undefined;
  resolve: (() => void) | undefined;
  reject: ((error: FlowError) => void) | undefined;
}

/** A new publish `id` of `msg` to partition `partition`, not sent yet. */
export function newEntry(
  id: U64,
  msg: MsgPayload,
  partition: Key,
  resolve?: () => void,
  reject?: (error: FlowError) => void,
): Entry {
  return new PublishEntry(id, msg, partition, resolve, reject);
}

/** The entry's message: kept until the first send, then decoded from the FWD sent (views into it). */
export function messageOf(entry: Entry): MsgPayload {
  if (entry.msg !== undefined) return entry.msg;
  const { msg } = decodeFrame(entry.wire!) as FwdFrame;
  msg.headers = entry.headers;
  return msg;
}

/**
 * The Entry of every publish. A class rather than an object literal: with
 * the same fields and the same allocation per publish, a publisher and 3
 * owners on the memory bus took about a fifth less CPU per acknowledged
 * message (200,000 publishes, alternating runs; the cause in V8 was not
 * pinned down).
 */
class PublishEntry implements Entry {
  readonly stream: string;
  readonly headers: MessageHeaders | undefined;
  wire: Uint8Array | undefined = undefined;
  wireAfter: U64 | undefined = undefined;
  readonly lane: number;
  owner: Key | undefined = undefined;
  ownerText = '';
  since = 0;
  tries = 0;
  accepted = false;
  openIn: Lane | undefined = undefined;
  prev: Entry | undefined = undefined;
  next: Entry | undefined = undefined;

  constructor(
    readonly id: U64,
    public msg: MsgPayload | undefined,
    readonly partition: Key,
    public resolve: (() => void) | undefined,
    public reject: ((error: FlowError) => void) | undefined,
  ) {
    this.stream = msg!.stream;
    this.headers = msg!.headers;
    this.lane = partitionLane(partition);
  }
}

/**
 * The messages of one partition lane: `open` of them are at `owner` (the last
 * is `last`), later ones wait in `held` (made when one must wait).
 */
export interface Lane {
  owner: string;
  open: number;
  last: Entry | undefined;
  held: Entry[] | undefined;
}

export interface Waiting {
  readonly msg: MsgPayload;
  readonly partition: Key;
  readonly resolve: () => void;
  readonly reject: (error: FlowError) => void;
}

/** A keyed publish made while the view is awaited (`ack` false: fire and forget). */
export interface Early {
  readonly msg: MsgPayload;
  readonly ack: boolean;
  readonly resolve: () => void;
  readonly reject: (error: FlowError) => void;
}
