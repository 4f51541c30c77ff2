import type { PublisherStop } from './schedule';

/** What a simulated run recorded; checkers read only this. Times are virtual ms. */

/** One handler run: which broker instance ran which message, from when to when. */
export interface HandlerRun {
  readonly node: string;
  /** Distinguishes a restarted node's instances: `node-1#2` is node-1's second start. */
  readonly instance: string;
  readonly key: string;
  readonly publisher: number;
  readonly seq: number;
  readonly start: number;
  /** Undefined while running (at the end of the run: never finished). */
  end: number | undefined;
  /** The instance crashed while this ran: `end` is the crash time and the run did not complete. */
  cut: boolean;
  /** A request's run (its reply names `instance`); absent for a message's. */
  readonly request?: true;
}

export interface PublishRecord {
  readonly publisher: number;
  readonly seq: number;
  readonly key: string;
  readonly at: number;
  /**
   * 'resolved': publish() resolved (the owner accepted it, or on the queue-group path it was sent). 'closed':
   * rejected with FLOW_CLOSED by its own publisher's stop, an outcome left open (the message may have reached
   * its owner, docs/PROTOCOL.md "What publish() promises"); 'rejected': any other rejection.
   */
  outcome: 'pending' | 'resolved' | 'rejected' | 'closed';
  /** A request (ScheduleOptions.requests): resolved with `reply`, the instance its handler named, or rejected with `code`. */
  readonly request?: true;
  reply?: string;
  code?: string;
}

export interface ChangeRecord {
  readonly at: number;
  readonly kind: 'start' | 'join' | 'leave' | 'crash' | 'restart' | 'disconnect' | 'reconnect' | `publisher-${PublisherStop}` | 'publisher-start';
  /** A node name, or for a publisher's stop and start `pub-<n>`, its number in the trace (a restart gets a new one). */
  readonly node: string;
}

export interface RingSample {
  readonly at: number;
  /** Every live joined broker's ring equals the positions of all live joined brokers. */
  readonly converged: boolean;
}

export interface Trace {
  readonly seed: number;
  readonly runs: HandlerRun[];
  readonly publishes: PublishRecord[];
  readonly changes: ChangeRecord[];
  readonly rings: RingSample[];
  /** Errors the brokers reported through onError, by code. */
  readonly errors: Record<string, number>;
  /** When rings differ at the end: how each differing ring differs from the truth. */
  readonly ringsAtEnd: string[];
  /** No frame was dropped or delayed from here on. */
  faultsUntil: number;
  endAt: number;
  /** Keyed publishes the publishers sent through the queue group (BrokerCounters.viaQueueGroup), their view unknown. */
  viaQueueGroup: number;
  /** Keyed requests sent through the queue group (not in viaQueueGroup: they have no order to lose). */
  requestsViaQueueGroup: number;
  /** Per publisher: its publishes refused after they resolved (BrokerCounters.refusedLate), each reported. */
  refusedLate: number[];
  /** Per publisher: the publishes it still kept or had waiting at the end (BrokerLoad.publishesUnsettled). */
  unsettledAtEnd: number[];
  /**
   * Publishers that stopped without draining (a crash, close()), a handling broker among them once it published:
   * what they kept is moved by nobody when its owner dies or leaves too.
   */
  readonly stoppedUndrained: number[];
  /** Publisher numbers of handling brokers' instances (memberPublishers), by instance name. */
  readonly members: Record<string, number>;
}

export function emptyTrace(seed: number): Trace {
  return { seed, runs: [], publishes: [], changes: [], rings: [], errors: {}, ringsAtEnd: [], faultsUntil: 0, endAt: 0, viaQueueGroup: 0, requestsViaQueueGroup: 0, refusedLate: [], unsettledAtEnd: [], stoppedUndrained: [], members: {} };
}

/** The trace as text, one line per record in time order: equal texts mean equal runs. */
export function formatTrace(trace: Trace): string {
  const lines: { at: number; order: number; text: string }[] = [];
  const add = (at: number, text: string): void => {
    lines.push({ at, order: lines.length, text });
  };
  for (const c of trace.changes) add(c.at, `${c.kind} ${c.node}`);
  const names = new Map(Object.entries(trace.members).map(([instance, n]) => [n, instance]));
  for (const p of trace.publishes) {
    const what = p.request === true ? 'request' : 'publish';
    const answer = p.reply !== undefined ? ` by ${p.reply}` : p.code !== undefined ? ` ${p.code}` : '';
    add(p.at, `${what} pub-${p.publisher}${names.has(p.publisher) ? ` (${names.get(p.publisher)})` : ''} #${p.seq} key ${p.key} ${p.outcome}${answer}`);
  }
  for (const r of trace.runs) {
    const end = r.end === undefined ? 'unfinished' : `${r.cut ? 'cut' : 'end'} ${r.end}`;
    add(r.start, `handle ${r.request === true ? 'request ' : ''}${r.instance} pub-${r.publisher} #${r.seq} key ${r.key} -> ${end}`);
  }
  let converged: boolean | undefined;
  for (const s of trace.rings) {
    if (s.converged !== converged) add(s.at, s.converged ? 'rings converged' : 'rings differ');
    converged = s.converged;
  }
  add(trace.faultsUntil, 'faults end');
  for (const line of trace.ringsAtEnd) add(trace.endAt, `ring of ${line}`);
  const errors = Object.entries(trace.errors).map(([code, n]) => `${code} x${n}`);
  const fallback =
    (trace.viaQueueGroup > 0 ? `; ${trace.viaQueueGroup} publishes through the queue group` : '') +
    (trace.requestsViaQueueGroup > 0 ? `; ${trace.requestsViaQueueGroup} requests through the queue group` : '');
  const refused = trace.refusedLate.some((n) => n > 0) ? `; refused after resolving, per publisher: ${trace.refusedLate.join(', ')}` : '';
  const kept = trace.unsettledAtEnd.some((n) => n > 0) ? `; kept at the end, per publisher: ${trace.unsettledAtEnd.join(', ')}` : '';
  add(trace.endAt, `end${errors.length > 0 ? `; errors reported: ${errors.join(', ')}` : ''}${fallback}${refused}${kept}`);
  lines.sort((a, b) => a.at - b.at || a.order - b.order);
  return lines.map((l) => `${String(l.at).padStart(6)}  ${l.text}`).join('\n');
}
