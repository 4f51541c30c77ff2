import { Key } from './key';
import type { OwnershipView } from './ownership';

/** One message or request as a handler sees it. All byte arrays are read-only views. */
export interface Delivery {
  readonly stream: string;
  /** The partition key's bytes; empty when the message has none. */
  readonly partitionKey: Uint8Array;
  /** The partition hash, `keyFromBytes(partitionKey)`; undefined without a key. */
  readonly partition: Key | undefined;
  readonly data: Uint8Array;
  /** `partition mod syncPartitions` when synchronous partitions are on. */
  readonly slot: number | undefined;
  /** The local ring position that owns the partition (the node key for unkeyed messages). */
  readonly owner: Key;
  /** The node key of the broker running the handler (one broker holds many positions). */
  readonly nodeKey: Key;
  readonly clique: string;
  readonly request: boolean;
  /**
   * The ownership epoch at which this broker acquired the partition's range
   * (ownership.ts): a local fencing token, monotonic per broker, not
   * comparable across brokers. Unkeyed: the broker's current epoch.
   */
  readonly epoch: number;
  /** The broker's live ownership, shared by its deliveries: `isOwner(partition)` answers from its current view. */
  readonly ownership: OwnershipView;
}

/** Handles a message; a returned promise holds the partition key's turn until it settles. */
export type MessageHandler = (delivery: Delivery) => void | PromiseLike<void>;

/**
 * Handles a request; the result is the reply. A thrown or rejected error
 * becomes an error reply carrying its `code` (a string), `message` and
 * JSON-serialisable `details`, which the requester sees as a RemoteError.
 */
export type RequestHandler = (delivery: Delivery) => Uint8Array | PromiseLike<Uint8Array>;

export interface PublishOptions {
  /** Partition key; without one, any broker of the clique handles the message. */
  key?: string | Uint8Array;
  /**
   * Keyed messages sent direct to their owner (a broker that knows the ring):
   * true (default) resolves once the owner accepted the message and keeps it
   * until handled; false sends and forgets. Ignored on the queue-group path.
   */
  ack?: boolean;
}

export interface RequestOptions {
  /** Partition key; without one, any broker of the clique handles the request. */
  key?: string | Uint8Array;
  /** ms; default: the broker's `requestTimeout`. */
  timeout?: number;
  signal?: AbortSignal;
}
