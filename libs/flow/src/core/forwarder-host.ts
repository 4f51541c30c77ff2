import type { U64 } from './bytes';
import type { BrokerCounters } from './broker-counters';
import type { Announcement } from './capabilities';
import type { FlowError } from './errors';
import type { Allocate, MsgPayload } from './frame';
import type { Key } from './key';
import type { Verdict } from './liveness';
import type { ResolvedBrokerOptions } from './options';
import type { MessageHeaders } from './pubsub';

/** What the forwarder needs from its broker. */
export interface ForwarderHost {
  readonly options: ResolvedBrokerOptions;
  readonly counters: BrokerCounters;
  readonly allocate: Allocate;
  /** The broker's id counter: forward ids share one space with requests and pings. */
  nextId(): number;
  send(subject: string, frame: Uint8Array, headers?: MessageHeaders): void;
  /** The transport's max payload (PubSub.maxPayload): a message whose FWD would exceed it is dropped, not sent. */
  maxPayload(): number | undefined;
  /** Routes a message again, by the broker's current view of the ring. */
  route(msg: MsgPayload): void;
  drop(msg: MsgPayload, error: FlowError): void;
  /** Removes a ring position; true when it was a member. */
  suspect(key: Key): boolean;
  /** Puts back a ring position that proved alive after being suspected. */
  readmit(key: Key): void;
  /** What the broker at a ring position announced (capabilities.ts); undefined for a Go broker. */
  announcementOf(key: Key): Announcement | undefined;
  /** Whether a ring position's broker answers (liveness.ts): only an answer is proof of life. */
  probe(key: Key): Promise<Verdict>;
  /** True when `key`'s broker answered nothing within the last `ms`, as a sign of death this broker acts on (Membership.silentFor). */
  silentFor(key: Key, ms: number): boolean;
  reportError(error: FlowError): void;
  /** Counts and reports what a probe's continuation threw (it must not become an unhandled rejection). */
  contain(error: unknown, what: string): void;
}

/** One forward awaiting its owner's answer (one object per attempt). */
export interface Forward {
  readonly id: U64;
  readonly msg: MsgPayload;
  readonly owner: Key;
  /** Sent with notices: settled by "handled", not by an ACK on receipt. */
  readonly notices: boolean;
  /** When it was sent; once accepted, when the owner last said it holds it. */
  since: number;
  accepted: boolean;
  /** In the pending table under `id` (a probe's verdict only applies then). */
  pending: boolean;
}
