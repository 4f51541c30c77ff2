import type { BrokerEvents, OwnershipChange } from '../core';

/**
 * FlowServer's names for the broker's ownership events. The payload is
 * `{ ranges, epoch }`: the hash ranges (inclusive 16-hex bounds, wrapping when
 * `from > to`) gained or lost in one ring change, and the broker's ownership
 * epoch after it. A `partitionsReleased` listener may return a promise: on a
 * graceful shutdown the broker waits for it (within its shutdown timeout)
 * after its handlers drained and before it closes the connection.
 */
export interface FlowPartitionEvents {
  partitionsAcquired: (change: OwnershipChange) => void;
  partitionsReleased: (change: OwnershipChange) => void;
}

export type FlowEventName = keyof BrokerEvents | keyof FlowPartitionEvents;

/** The broker event behind a FlowServer event name. */
export function brokerEventOf(event: FlowEventName): keyof BrokerEvents {
  if (event === 'partitionsAcquired') return 'acquired';
  if (event === 'partitionsReleased') return 'released';
  return event;
}
