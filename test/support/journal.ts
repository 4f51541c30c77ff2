import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';

/**
 * A broker worker's record of what it received from NATS and handled, one
 * line a record, so that the parent can check delivery after the fact:
 *   `R <seq>`: a stream message reached this broker through the queue group;
 *   `H <seq> <partition key or -> <owner position>`: the handler ran (an async one: finished);
 *   `P <seq>`: a publish of this broker resolved (with acknowledgement: its owner accepted it).
 * Each line is written synchronously: it is in the kernel before the worker
 * takes its next message (and before an ACK it queued goes out), so it
 * survives SIGKILL.
 */
export class JournalWriter {
  private readonly fd: number;

  constructor(path: string) {
    this.fd = openSync(path, 'a');
  }

  received(seq: number): void {
    writeSync(this.fd, `R ${seq}\n`);
  }

  published(seq: number): void {
    writeSync(this.fd, `P ${seq}\n`);
  }

  handled(seq: number, partitionKey: string, owner: string): void {
    writeSync(this.fd, `H ${seq} ${partitionKey === '' ? '-' : partitionKey} ${owner}\n`);
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
}

export interface Journal {
  readonly by: string;
  /** Sequence numbers of the stream messages this broker took from NATS. */
  readonly received: readonly number[];
  readonly handled: readonly HandledRecord[];
  /** Sequence numbers of this broker's publishes that resolved. */
  readonly published: readonly number[];
}

/** Reads a journal; a line cut off by SIGKILL is ignored. */
export function readJournal(path: string, by: string): Journal {
  const received: number[] = [];
  const handled: HandledRecord[] = [];
  const published: number[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const fields = line.split(' ');
    if (fields[0] === 'R' && fields.length === 2) received.push(Number(fields[1]));
    else if (fields[0] === 'P' && fields.length === 2) published.push(Number(fields[1]));
    else if (fields[0] === 'H' && fields.length === 4) {
      handled.push({ seq: Number(fields[1]), key: fields[2]!, owner: fields[3]!, by });
    }
  }
  return { by, received, handled, published };
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
