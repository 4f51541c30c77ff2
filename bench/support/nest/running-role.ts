import type { Broker } from 'nestjs-flow/core';
import type { LoadTarget } from './load-driver';

/** A started role of a bench worker. */
export interface RunningRole {
  /** Publishers: what the load driver publishes and requests through. */
  readonly target?: LoadTarget;
  /** Flow roles: the app's broker, for ring size and counters. */
  readonly broker?: Broker;
  /** Closes the app the way Nest does on shutdown. */
  close(): Promise<void>;
}
