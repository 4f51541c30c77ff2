import { Property } from './checkers';
import { Schedule } from './schedule';

/**
 * Which property today's library guarantees for which schedule (docs/SIMULATION.md).
 * The spec asserts exactly these; the script reports every other violation
 * without failing. Handoff (issue 13) is to widen this to every schedule
 * without a crash or partition.
 */
export function expectedToHold(property: Property, schedule: Schedule): boolean {
  switch (property) {
    case 'converged':
      return true;
    case 'lost':
      return schedule.membership !== 'crashes';
    case 'exclusive':
    case 'order':
      return schedule.membership === 'stable';
  }
}
