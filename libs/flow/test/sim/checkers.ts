import { ErrorCode } from '../../src/core/errors';
import { HandlerRun, Trace } from './trace';

/** The properties each trace is checked for: the four of issue 13, part 4, and four added since. */
export type Property = 'exclusive' | 'order' | 'lost' | 'converged' | 'settled' | 'refused' | 'answered' | 'once';

export const PROPERTIES: readonly Property[] = ['exclusive', 'order', 'lost', 'converged', 'settled', 'refused', 'answered', 'once'];

export const PROPERTY_TEXT: Readonly<Record<Property, string>> = {
  exclusive: '(a) no key handled on two brokers at overlapping times',
  order: '(b) per-key order per publisher',
  lost: '(c) no acknowledged (resolved) publish lost without its publisher reporting it',
  converged: '(d) rings converge after the last membership change',
  settled: '(e) every publish settled by the end: none pending, none kept by its publisher',
  refused: '(f) no publish whose publish() rejected ran',
  answered: '(g) a request resolves only with the reply of a completed run of it, and one refused did not run',
  once: '(h) no request run twice',
};

/**
 * Request rejections that say nothing about whether the handler ran: the reply did not come in time, the owner
 * died after taking it, or the requester's own broker closed. Every other rejection says it did not run.
 */
export const OPEN_REQUEST_CODES: ReadonlySet<string> = new Set([ErrorCode.Timeout, ErrorCode.OwnerLost, ErrorCode.Closed]);

/**
 * Virtual ms after the last membership change or frame fault within which
 * every live ring must equal the truth (20 stabilization rounds of 100 ms).
 * A crash is found by a ping unanswered for an ackTimeout (50 ms); a live
 * member suspected for a dropped ACK comes back through stabilization.
 */
export const CONVERGENCE_BOUND_MS = 2_000;

/** One line per violation; empty when the property holds. */
export type Violations = Record<Property, string[]>;

export function checkTrace(trace: Trace): Violations {
  return {
    exclusive: checkExclusive(trace),
    order: checkOrder(trace),
    lost: checkLost(trace),
    converged: checkConverged(trace),
    settled: checkSettled(trace),
    refused: checkRefused(trace),
    answered: checkAnswered(trace),
    once: checkOnce(trace),
  };
}

const label = (r: HandlerRun): string => `${r.instance} pub-${r.publisher} #${r.seq} [${r.start}, ${r.end ?? 'end'})`;

/** (a) Two runs of one key on different broker instances whose [start, end) intervals intersect. */
export function checkExclusive(trace: Trace): string[] {
  const out: string[] = [];
  for (const runs of groupBy(trace.runs, (r) => r.key).values()) {
    const sorted = [...runs].sort((a, b) => a.start - b.start);
    for (let i = 0; i < sorted.length; i++) {
      const a = sorted[i];
      const aEnd = a.end ?? trace.endAt;
      for (let j = i + 1; j < sorted.length && sorted[j].start < aEnd; j++) {
        const b = sorted[j];
        if (b.instance !== a.instance) out.push(`key ${a.key}: ${label(a)} overlaps ${label(b)}`);
      }
    }
  }
  return out;
}

/** (b) For each publisher and key, first runs of its messages start in publish (seq) order. */
export function checkOrder(trace: Trace): string[] {
  const out: string[] = [];
  // A request goes to its owner at once, in no lane of its publisher's: it has no order (docs/PROTOCOL.md, "Order").
  const messages = trace.runs.filter((r) => r.request !== true);
  for (const runs of groupBy(messages, (r) => `${r.publisher}/${r.key}`).values()) {
    const first = new Map<number, HandlerRun>();
    for (const run of runs) if (!first.has(run.seq)) first.set(run.seq, run);
    let previous: HandlerRun | undefined;
    for (const run of first.values()) {
      if (previous !== undefined && run.seq < previous.seq) {
        out.push(`key ${run.key}: pub-${run.publisher} #${run.seq} ran after #${previous.seq} (${label(previous)}, then ${label(run)})`);
      }
      if (previous === undefined || run.seq > previous.seq) previous = run;
    }
  }
  return out;
}

/**
 * (c) Publishes that resolved and whose message no run completed (a run cut by
 * a crash does not count), beyond what their publisher reported refused after
 * resolving (its refusedLate count: a refusal names no publish, so this
 * compares counts).
 */
export function checkLost(trace: Trace): string[] {
  const handled = new Set(trace.runs.filter((r) => !r.cut).map((r) => `${r.publisher}:${r.seq}`));
  const unhandled = trace.publishes.filter((p) => p.request !== true && p.outcome === 'resolved' && !handled.has(`${p.publisher}:${p.seq}`));
  const out: string[] = [];
  for (const [publisher, lost] of groupBy(unhandled, (p) => String(p.publisher))) {
    const reported = trace.refusedLate[Number(publisher)] ?? 0;
    if (lost.length <= reported) continue;
    const of = reported > 0 ? ` (${lost.length} such, ${reported} reported refused)` : '';
    for (const p of lost) out.push(`pub-${p.publisher} #${p.seq} key ${p.key} published at ${p.at}, resolved, never handled${of}`);
  }
  return out;
}

/**
 * (f) A publish whose publish() rejected (refused: overloaded owners) and whose message a run completed anyway.
 * Not one its own publisher's stop rejected (outcome 'closed'): that outcome is open.
 */
export function checkRefused(trace: Trace): string[] {
  const ran = new Map(trace.runs.filter((r) => !r.cut).map((r) => [`${r.publisher}:${r.seq}`, r]));
  return trace.publishes
    .filter((p) => p.request !== true && p.outcome === 'rejected' && ran.has(`${p.publisher}:${p.seq}`))
    .map((p) => `pub-${p.publisher} #${p.seq} key ${p.key} published at ${p.at}, rejected, yet ${label(ran.get(`${p.publisher}:${p.seq}`)!)}`);
}

/**
 * (g) A request that resolved names in its reply an instance with a completed run of it; one rejected with a
 * code that says it did not run (not OPEN_REQUEST_CODES) has no completed run.
 */
export function checkAnswered(trace: Trace): string[] {
  const completed = groupBy(trace.runs.filter((r) => r.request === true && !r.cut), (r) => `${r.publisher}:${r.seq}`);
  const out: string[] = [];
  for (const p of trace.publishes) {
    if (p.request !== true) continue;
    const runs = completed.get(`${p.publisher}:${p.seq}`) ?? [];
    const what = `request pub-${p.publisher} #${p.seq} key ${p.key} at ${p.at}`;
    if (p.outcome === 'resolved' && !runs.some((r) => r.instance === p.reply)) {
      out.push(`${what} resolved with the reply of ${p.reply}, which completed no run of it${runs.length > 0 ? ` (${runs.map(label).join(', ')})` : ''}`);
    }
    if (p.outcome === 'rejected' && p.code !== undefined && !OPEN_REQUEST_CODES.has(p.code) && runs.length > 0) {
      out.push(`${what} rejected with ${p.code}, yet ${label(runs[0])}`);
    }
  }
  return out;
}

/** (h) A request whose handler started more than once (a run cut by a crash counts: it started). */
export function checkOnce(trace: Trace): string[] {
  const out: string[] = [];
  for (const runs of groupBy(trace.runs.filter((r) => r.request === true), (r) => `${r.publisher}:${r.seq}`).values()) {
    if (runs.length > 1) out.push(`request pub-${runs[0].publisher} #${runs[0].seq} key ${runs[0].key} ran ${runs.length} times: ${runs.map(label).join(', ')}`);
  }
  return out;
}

/** (e) At the end, after the quiet period: no publish() still pending, and no publisher keeping a publish. */
export function checkSettled(trace: Trace): string[] {
  const out = trace.publishes
    .filter((p) => p.outcome === 'pending')
    .map((p) => `pub-${p.publisher} #${p.seq} key ${p.key} published at ${p.at}, neither resolved nor rejected`);
  trace.unsettledAtEnd.forEach((n, publisher) => {
    if (n > 0) out.push(`pub-${publisher} keeps ${n} publishes at the end`);
  });
  return out;
}

/** The last membership change or the end of frame faults, whichever is later (a publisher is no member). */
function lastDisturbance(trace: Trace): number {
  return trace.changes.reduce((max, c) => (c.kind.startsWith('publisher-') ? max : Math.max(max, c.at)), trace.faultsUntil);
}

/**
 * (d) From at most CONVERGENCE_BOUND_MS after the last membership change (or
 * the last frame fault: a dropped PING or ACK can make a live member suspected)
 * to the end, every ring sample converged.
 */
export function checkConverged(trace: Trace): string[] {
  const last = lastDisturbance(trace);
  const lastDiffering = trace.rings.filter((s) => !s.converged).reduce((max, s) => Math.max(max, s.at), -1);
  if (lastDiffering < 0 || lastDiffering < last) return [];
  const final = trace.rings[trace.rings.length - 1];
  if (final !== undefined && !final.converged) return [`rings still differ at the end (${final.at}), last change or fault at ${last}`];
  if (lastDiffering - last <= CONVERGENCE_BOUND_MS) return [];
  return [`rings differed until ${lastDiffering}, ${lastDiffering - last} ms after the last change or fault at ${last}`];
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [item]);
    else group.push(item);
  }
  return groups;
}

/** Virtual ms from the last membership change to the last sample whose rings differed (0 when none did after it). */
export function convergenceDelay(trace: Trace): number {
  const lastDiffering = trace.rings.filter((s) => !s.converged).reduce((max, s) => Math.max(max, s.at), -1);
  return Math.max(0, lastDiffering - lastDisturbance(trace));
}
