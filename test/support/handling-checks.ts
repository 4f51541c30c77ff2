import type { HandledRecord, Journal, PublishRecord } from './journal';

/** Two handler runs of one key, `later` started after `earlier`. */
export interface RunPair {
  readonly key: string;
  readonly earlier: HandledRecord;
  readonly later: HandledRecord;
}

/**
 * What the handlers' journals say about a keyed stream, checked across every
 * broker (restarted ones included: each incarnation journals under its own label).
 */
export interface HandlingReport {
  /** Resolved publishes never handled, ascending. */
  readonly lost: readonly number[];
  /** Handler runs beyond the first, summed over all sequence numbers. */
  readonly handledTwice: number;
  /** Sequence numbers handled more than once, with every run. */
  readonly duplicates: readonly (readonly HandledRecord[])[];
  /** Of those, how many ran on two or more brokers. */
  readonly onTwoBrokers: number;
  /** Per key, in start order: a run whose sequence number is below one that started before it. */
  readonly orderViolations: readonly RunPair[];
  /** Per key: a run that started while a run of the same key on another broker had not finished. */
  readonly overlaps: readonly RunPair[];
}

function timed(record: HandledRecord): { start: number; end: number } {
  if (record.start === undefined || record.end === undefined) {
    throw new Error(`handled record ${record.seq} of ${record.by} has no start and end times`);
  }
  return { start: record.start, end: record.end };
}

/** Checks the handled records of `journals` against the sequence numbers whose publish resolved. */
export function checkHandling(journals: readonly Journal[], resolved: Iterable<number>): HandlingReport {
  const runs = new Map<number, HandledRecord[]>();
  const byKey = new Map<string, HandledRecord[]>();
  for (const journal of journals) {
    for (const record of journal.handled) {
      timed(record);
      runs.set(record.seq, [...(runs.get(record.seq) ?? []), record]);
      let list = byKey.get(record.key);
      if (list === undefined) byKey.set(record.key, (list = []));
      list.push(record);
    }
  }
  const lost = [...new Set(resolved)].filter((seq) => !runs.has(seq)).sort((a, b) => a - b);
  const duplicates = [...runs.values()].filter((list) => list.length > 1);
  const handledTwice = duplicates.reduce((sum, list) => sum + list.length - 1, 0);
  const onTwoBrokers = duplicates.filter((list) => new Set(list.map((r) => r.by)).size > 1).length;

  const orderViolations: RunPair[] = [];
  const overlaps: RunPair[] = [];
  for (const [key, list] of byKey) {
    list.sort((a, b) => timed(a).start - timed(b).start || a.seq - b.seq);
    let highest: HandledRecord | undefined;
    /** Per broker, its run of this key that finished last. */
    const lastRun = new Map<string, HandledRecord>();
    for (const record of list) {
      if (highest !== undefined && record.seq < highest.seq) orderViolations.push({ key, earlier: highest, later: record });
      if (highest === undefined || record.seq > highest.seq) highest = record;
      for (const [by, other] of lastRun) {
        if (by !== record.by && timed(other).end > timed(record).start) overlaps.push({ key, earlier: other, later: record });
      }
      const previous = lastRun.get(record.by);
      if (previous === undefined || timed(previous).end < timed(record).end) lastRun.set(record.by, record);
    }
  }
  const byStart = (a: RunPair, b: RunPair): number => timed(a.later).start - timed(b.later).start;
  return { lost, handledTwice, duplicates, onTwoBrokers, orderViolations: orderViolations.sort(byStart), overlaps: overlaps.sort(byStart) };
}

function run(record: HandledRecord, origin: number): string {
  const { start, end } = timed(record);
  return `#${record.seq} on ${record.by} ${(start - origin).toFixed(1)}..${(end - origin).toFixed(1)} ms`;
}

/** The counts, and the first few of each violation, times relative to `origin`. */
export function describeHandling(report: HandlingReport, origin: number, first = 5): string {
  const pairs = (list: readonly RunPair[]): string =>
    list.slice(0, first).map((p) => `\n    ${p.key}: ${run(p.earlier, origin)} then ${run(p.later, origin)}`).join('');
  return [
    `lost ${report.lost.length}${report.lost.length > 0 ? ` (first: ${report.lost.slice(0, first * 4).join(', ')})` : ''}`,
    `handled twice ${report.handledTwice} (${report.onTwoBrokers} sequence numbers on two brokers)` +
      report.duplicates.slice(0, first).map((list) => `\n    ${list.map((r) => run(r, origin)).join(' / ')}`).join(''),
    `order violations ${report.orderViolations.length}${pairs(report.orderViolations)}`,
    `overlaps ${report.overlaps.length}${pairs(report.overlaps)}`,
  ].join('\n  ');
}

/** Publishes resolved per second in [from, to) (journalClock). */
export function resolvedRate(publishes: readonly PublishRecord[], from: number, to: number): number {
  if (to <= from) return 0;
  const count = publishes.filter((p) => p.resolved >= from && p.resolved < to).length;
  return (count * 1000) / (to - from);
}
