import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';

/**
 * A broker worker's record of what it received from NATS and handled, one
 * line a record, so that the parent can check delivery after the fact:
 *   `R <seq>`: a stream message reached this broker through the queue group;
 *   `H <seq> <partition key or -> <owner position> [<start> <end>]`: the handler ran (an async one:
 *     finished), optionally with the times it started and finished;
 *   `P <seq> [<sent> <resolved>]`: a publish of this broker resolved (with acknowledgement: its owner
 *     accepted it), optionally with the times publish() was called and resolved.
 * Times are milliseconds on `journalClock()`, one clock for every process on the machine.
 * Each line is written synchronously: it is in the kernel before the worker
 * takes its next message (and before an ACK it queued goes out), so it
 * survives SIGKILL.
 */
/**
 * Milliseconds on the machine's monotonic clock (CLOCK_MONOTONIC, through
 * `process.hrtime`), with sub-millisecond resolution: one clock that every
 * process on the machine reads alike, so journals of different workers can
 * be compared. Not wall time. `performance.timeOrigin + performance.now()`
 * was used before: it pins each process to the wall clock as it read at that
 * process's start, and on this VM the wall clock strays from the monotonic
 * one by a millisecond or two now and then. That is the likely cause of
 * one failure (rolling-restart e2e, 2026-12-02): five handler runs of one
 * broker, all within 0.1 ms, started "before" the publisher sent their
 * messages, with keys and sequence numbers that matched.
 */
export function journalClock(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Times with three decimals (microseconds): enough, and short lines. */
function time(ms: number): string {
  return ms.toFixed(3);
}

export class JournalWriter {
  private readonly fd: number;

  constructor(path: string) {
    this.fd = openSync(path, 'a');
  }

  received(seq: number): void {
    writeSync(this.fd, `R ${seq}\n`);
  }

  published(seq: number, times?: { sent: number; resolved: number }): void {
    writeSync(this.fd, times === undefined ? `P ${seq}\n` : `P ${seq} ${time(times.sent)} ${time(times.resolved)}\n`);
  }

  handled(seq: number, partitionKey: string, owner: string, times?: { start: number; end: number }): void {
    const key = partitionKey === '' ? '-' : partitionKey;
    const suffix = times === undefined ? '' : ` ${time(times.start)} ${time(times.end)}`;
    writeSync(this.fd, `H ${seq} ${key} ${owner}${suffix}\n`);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** A handler run, as a worker journaled it. */
export interface HandledRecord {
  readonly seq: number;
  readonly key: string;
  /** The ring position that ran it. */
  readonly owner: string;
  /** Label of the worker that journaled it. */
  readonly by: string;
  /** When the handler started and finished (journalClock), if the worker journaled times. */
  readonly start?: number;
  readonly end?: number;
}

/** A publish that resolved, with its times (journalClock). */
export interface PublishRecord {
  readonly seq: number;
  /** When publish() was called. */
  readonly sent: number;
  /** When it resolved. */
  readonly resolved: number;
}

export interface Journal {
  readonly by: string;
  /** Sequence numbers of the stream messages this broker took from NATS. */
  readonly received: readonly number[];
  readonly handled: readonly HandledRecord[];
  /** Sequence numbers of this broker's publishes that resolved. */
  readonly published: readonly number[];
  /** The resolved publishes journaled with their times (a subset of `published`). */
  readonly publishes: readonly PublishRecord[];
}

/** Reads a journal; a line cut off by SIGKILL is ignored. */
export function readJournal(path: string, by: string): Journal {
  const received: number[] = [];
  const handled: HandledRecord[] = [];
  const published: number[] = [];
  const publishes: PublishRecord[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const fields = line.split(' ');
    if (fields[0] === 'R' && fields.length === 2) received.push(Number(fields[1]));
    else if (fields[0] === 'P' && fields.length === 2) published.push(Number(fields[1]));
    else if (fields[0] === 'P' && fields.length === 4) {
      const record = { seq: Number(fields[1]), sent: Number(fields[2]), resolved: Number(fields[3]) };
      published.push(record.seq);
      publishes.push(record);
    } else if (fields[0] === 'H' && fields.length === 4) {
      handled.push({ seq: Number(fields[1]), key: fields[2]!, owner: fields[3]!, by });
    } else if (fields[0] === 'H' && fields.length === 6) {
      const [, seq, key, owner, start, end] = fields;
      handled.push({ seq: Number(seq), key: key!, owner: owner!, by, start: Number(start), end: Number(end) });
    }
  }
  return { by, received, handled, published, publishes };
}

export interface Tally {
  /** Handler runs per sequence number. */
  readonly runs: ReadonlyMap<number, number>;
  /** Sequence numbers of `expected` never handled, ascending. */
  readonly missing: readonly number[];
  /** Handler runs beyond the first, summed over all sequence numbers. */
  readonly duplicates: number;
  /** Handled sequence numbers outside `expected`. */
  readonly unexpected: readonly number[];
}

/** Counts, across journals, how often each of the expected sequence numbers was handled. */
export function tally(journals: readonly Journal[], expected: Iterable<number>): Tally {
  const runs = new Map<number, number>();
  for (const journal of journals) {
    for (const record of journal.handled) runs.set(record.seq, (runs.get(record.seq) ?? 0) + 1);
  }
  const wanted = new Set(expected);
  const missing = [...wanted].filter((seq) => !runs.has(seq)).sort((a, b) => a - b);
  let duplicates = 0;
  const unexpected: number[] = [];
  for (const [seq, count] of runs) {
    duplicates += count - 1;
    if (!wanted.has(seq)) unexpected.push(seq);
  }
  return { runs, missing, duplicates, unexpected };
}

/** firstSeq, firstSeq + 1, ..., firstSeq + count - 1. */
export function seqRange(firstSeq: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => firstSeq + i);
}
