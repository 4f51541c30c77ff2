import type { BrokerFleet } from './broker-fleet';
import type { BrokerProcess } from './broker-process';
import { awaitConvergence } from './clique-waits';
import { handlerConfig, PATIENT_TIMERS, publisherConfig } from './worker-configs';
import type { RingView } from './worker-protocol';

/** Three handler processes and a publisher on one clique, with patient timers, once their rings agree. */
export interface PatientClique {
  readonly handlers: BrokerProcess[];
  readonly publisher: BrokerProcess;
  readonly ring: { label: string; view: RingView }[];
}

/**
 * Launches `<prefix>-node-1..3` (handlers) and `<prefix>-publisher` on `servers`
 * in clique `clique`, and waits (30 s at most) until all three rings hold every position.
 */
export async function launchPatientClique(fleet: BrokerFleet, servers: string, clique: string, prefix: string): Promise<PatientClique> {
  const nats = { servers };
  const broker = { ...PATIENT_TIMERS, clique };
  const [handlers, publisher] = await Promise.all([
    Promise.all([1, 2, 3].map((i) => fleet.launch(`broker-${i}`, handlerConfig(nats, `${prefix}-node-${i}`, broker)))),
    fleet.launch('publisher', publisherConfig(nats, `${prefix}-publisher`, broker)),
  ]);
  const views = await awaitConvergence(handlers, 3 * PATIENT_TIMERS.virtualNodes, 30_000);
  return { handlers, publisher, ring: handlers.map((h, i) => ({ label: h.label, view: views[i]! })) };
}
