import type { BrokerCounters } from './broker-counters';
import type { Dispatcher } from './dispatcher';
import type { Allocate, MsgPayload } from './frame';
import type { Membership } from './membership';
import type { ResolvedBrokerOptions } from './options';
import type { NodeSubjects } from './subjects';

/** Publishes remembered per origin for duplicate suppression: the newest this many at most, over all publishers (fewer once floors retire them). */
export const DUPLICATE_WINDOW = 1 << 17;

/** Relayed publishes remembered for their successors' order, at most (relays happen while views disagree). */
export const RELAYED_WINDOW = 1 << 12;

/** Direct publishes held for a missing predecessor (lane-order.ts), at most, over all publishers. */
export const HELD_FORWARDS = 1 << 14;

/** What the acceptor needs from its broker. */
export interface AcceptorHost {
  readonly options: ResolvedBrokerOptions;
  readonly counters: BrokerCounters;
  readonly allocate: Allocate;
  readonly nodeSubjects: NodeSubjects;
  membership(): Membership | undefined;
  /** Queues messages this broker owns for their handlers; `msg.settle` hears how each ended. */
  readonly dispatcher: Dispatcher;
  /** Routes by this broker's view (relaying to the owner it sees). */
  route(msg: MsgPayload): void;
  send(subject: string, frame: Uint8Array): void;
  /** The transport's max payload (PubSub.maxPayload): a notice with more ids than fit goes as several. */
  maxPayload(): number | undefined;
  /** Runs `task` after the current input (PubSub.afterInput): notices go out then. */
  afterInput(task: () => void): void;
}
