import { Property } from './checkers';
import { Schedule } from './schedule';

/**
 * Which property today's library guarantees for which schedule, as measured
 * (docs/SIMULATION.md). The spec asserts exactly these; the script reports
 * every other violation without failing. Handoff, direct publishing and the
 * membership fixes (issue 13 and its predecessors) are to widen them.
 */
export function expectedToHold(property: Property, schedule: Schedule): boolean {
  const has = (kind: string): boolean => schedule.events.some((e) => e.kind === kind);
  switch (property) {
    case 'converged':
      // Always: proof of life by answers, LEAV of the dead, re-admission by a broker's own PING, and a Flow
      // member's announced positions learned from its PING even when its JOINs were lost.
      return true;
    case 'lost':
      // close() abandons forwards awaiting their ACK and deliveries on their way; a crash loses what it held.
      return !has('crash') && !has('disconnect') && !schedule.events.some((e) => e.kind === 'leave' && e.how === 'close');
    case 'exclusive':
      // Handoff (handoff.ts) covers joins, leaves and restarts; a crashed broker runs nothing more. A dropped
      // ACK or PING, or a disconnect, makes a live owner suspected: its keys move while it still runs them.
      return schedule.faults.drop === 0 && !has('disconnect');
    case 'order':
      // Keyed publishes go direct, each naming its lane's unsettled predecessor, which the owner (or a relaying
      // broker) queues first; a publisher awaits its first view answer. Not when the view stays unknown (its
      // questions lost to drops while the answering member is disconnected): the queue group has no order.
      return !has('disconnect') || schedule.faults.drop === 0;
  }
}
