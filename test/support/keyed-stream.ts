import type { BrokerProcess } from './broker-process';
import { awaitHandled, quiesce } from './clique-waits';
import { readJournal, seqRange, tally, type HandledRecord, type Journal, type Tally } from './journal';
import { ownerLookup, positionHolders } from './ring-view';
import type { PublishSpec, RingView, WorkerCounters } from './worker-protocol';
import { MESSAGE_STREAM } from './worker-configs';

export interface KeyedStreamRun {
  readonly tally: Tally;
  /** Handled records whose position is not the key's owner on `ring`, or not held by the worker that ran it. */
  readonly misrouted: readonly HandledRecord[];
  /** Each handler's counters at the end. */
  readonly counters: readonly WorkerCounters[];
  /** Forwards the handlers retried after an ACK timeout during this run. */
  readonly retried: number;
  readonly elapsedMs: number;
}

export interface KeyedStreamOptions {
  readonly publisher: BrokerProcess;
  readonly handlers: readonly BrokerProcess[];
  /** The converged ring (every handler's snapshot) the messages must follow. */
  readonly ring: readonly { label: string; view: RingView }[];
  readonly count: number;
  readonly firstSeq?: number;
  readonly keyCount?: number;
  readonly timeoutMs?: number;
  /**
   * At most this many messages published and not yet handled: the publisher
   * waits for the handlers to catch up, as a consumer-paced producer would.
   * Without it the whole run is one burst.
   */
  readonly window?: number;
}

/**
 * Publishes `count` keyed messages from `publisher`, waits until the handlers
 * have handled as many and have gone quiet, then checks the journals: each
 * message handled once, by the owner of its key on `ring`.
 */
export async function runKeyedStream(options: KeyedStreamOptions): Promise<KeyedStreamRun> {
  const { publisher, handlers, count } = options;
  const firstSeq = options.firstSeq ?? 0;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const window = options.window ?? count;
  const chunk = Math.max(1, Math.min(count, Math.floor(window / 2)));
  const before = handlers.reduce((sum, h) => sum + h.handled, 0);
  const retriedBefore = (await Promise.all(handlers.map((h) => h.counters()))).reduce((sum, c) => sum + c.retried, 0);
  const started = Date.now();
  const deadline = started + timeoutMs;
  for (let sent = 0; sent < count; ) {
    const size = Math.min(chunk, count - sent);
    const spec: PublishSpec = {
      stream: MESSAGE_STREAM,
      count: size,
      firstSeq: firstSeq + sent,
      keyCount: options.keyCount ?? 10_000,
      keyPrefix: 'customer-',
      batch: 2_000,
      pauseMs: 0,
    };
    const result = await publisher.publish(spec, deadline - Date.now());
    if (result.published !== size) throw new Error(`published ${result.published} of ${size}: ${JSON.stringify(result)}`);
    sent += size;
    await awaitHandled(handlers, before + Math.max(sent - window + chunk, 0), deadline - Date.now());
  }
  await awaitHandled(handlers, before + count, deadline - Date.now());
  const elapsedMs = Date.now() - started;
  const counters = await quiesce(handlers);
  const journals = handlers.map((h) => readJournal(h.config!.journal, h.label));
  const inRun = (journal: Journal): Journal => ({
    ...journal,
    handled: journal.handled.filter((r) => r.seq >= firstSeq && r.seq < firstSeq + count),
  });
  const runJournals = journals.map(inRun);
  return {
    tally: tally(runJournals, seqRange(firstSeq, count)),
    misrouted: misrouted(runJournals, options.ring),
    counters,
    retried: counters.reduce((sum, c) => sum + c.retried, 0) - retriedBefore,
    elapsedMs,
  };
}

/** Records not run by the owner of their key on `ring`, or run by a worker that does not hold that position. */
export function misrouted(
  journals: readonly Journal[],
  ring: readonly { label: string; view: RingView }[],
): HandledRecord[] {
  const ownerOf = ownerLookup(ring[0]!.view.members);
  const holders = positionHolders(ring);
  const wrong: HandledRecord[] = [];
  for (const journal of journals) {
    for (const record of journal.handled) {
      if (record.owner !== ownerOf(record.key) || holders.get(record.owner) !== record.by) wrong.push(record);
    }
  }
  return wrong;
}
