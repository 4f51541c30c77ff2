import type { Key } from './key';

/** A broker's view of its ring at one moment (Broker.snapshot()). */
export interface RingSnapshot {
  readonly clique: string;
  readonly nodeKey: Key;
  readonly positions: readonly Key[];
  /** Every position on the ring, sorted, own positions included. Empty until joined. */
  readonly members: readonly Key[];
  readonly joined: boolean;
}
