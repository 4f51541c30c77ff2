import { Property } from './checkers';
import { Schedule } from './schedule';
import { Trace } from './trace';

/**
 * Which property today's library guarantees for which run, as measured
 * (docs/SIMULATION.md): by its schedule, and for order and loss by whether a
 * publisher fell back to the queue group (its trace). The spec asserts
 * exactly these; the script reports every other violation without failing.
 */
export function expectedToHold(property: Property, schedule: Schedule, trace: Trace): boolean {
  switch (property) {
    case 'refused':
      // An owner that refused a publish answers a retry of it with the same refusal (Acceptor.refuse), and a
      // publish relayed from here is not queued a second time when its key comes back here.
      return true;
    case 'settled':
      // A publisher keeps an acknowledged publish until it is handled or refused; one whose owner died goes to
      // the next owner, and an owner that cannot place a publish it accepted refuses it (Acceptor.notPlaced).
      return true;
    case 'converged':
      // Always: proof of life by answers, LEAV of the dead, re-admission by a broker's own PING, and a Flow
      // member's announced positions learned from its PING even when its JOINs were lost.
      return true;
    case 'lost':
      // An acknowledged publish stays with its publisher until its owner reports it handled, and goes to the
      // next owner when that one crashes or closes first; forwards between members likewise (forward notices).
      // Not when a publisher's view stayed unknown (see 'order'): a queue-group publish resolves once sent.
      // Nor when a publisher stopped without draining (crash, close()) in a run where a handling broker leaves,
      // crashes or disconnects: what that broker held of it is moved by nobody (a stopped publisher's resolved
      // publishes are asserted when owners only join, or when it shut down, which waits for them). A handling
      // broker that published and crashed or close()d is such a publisher, and such a leave.
      return trace.viaQueueGroup === 0 && !(trace.stoppedUndrained.length > 0 && schedule.events.some((e) => e.kind === 'leave' || e.kind === 'crash' || e.kind === 'disconnect'));
    case 'exclusive':
      // Handoff (handoff.ts) covers joins, leaves and restarts; a crashed broker runs nothing more; a live owner
      // is suspected only after 4 probes in a row go unanswered (never at these drop rates in 3,000 seeds). A
      // disconnected broker starts no handler, and after the reconnect takes its ranges back as a joiner does
      // (reconnect-fence.ts), so the keys the others ran meanwhile are not run here at the same time. Not when
      // a handler was under way as its broker close()d (which abandons its work) or lost its connection: it
      // may overlap the new owner's run for its remaining time, as documented (seed 114947).
      return !schedule.events.some((e) => (e.kind === 'disconnect' || (e.kind === 'leave' && e.how === 'close')) && runsAcross(trace, e.node, e.at));
    case 'order':
      // Keyed publishes go direct, each naming its lane's unsettled predecessor, which the owner (or a relaying
      // broker) queues first; a publisher awaits its first view answer. Not when a publisher sent through the
      // queue group (its view questions or their answers all lost: a disconnect, or drops alone as in seed
      // 62441): it has no order relative to direct sends. BrokerCounters.viaQueueGroup counts them.
      return trace.viaQueueGroup === 0;
    case 'answered':
      // A reply comes from the handler that ran the request (its id is the requester's, matched by the requester);
      // a broker that refuses a request (full queue, no handler) answers so without running it.
      return true;
    case 'once':
      // A request is not retried: the requester sends it once, a forwarding broker hands it on once, and an owner
      // found dead after taking it fails it with FLOW_OWNER_LOST instead of sending it elsewhere.
      return true;
  }
}

/** True when a handler of `node` was under way at `at`. */
function runsAcross(trace: Trace, node: string, at: number): boolean {
  return trace.runs.some((r) => r.node === node && r.start <= at && (r.end ?? trace.endAt) > at);
}
