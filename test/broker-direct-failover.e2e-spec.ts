/**
 * Direct publishing with acknowledgement on real NATS: a publisher process
 * sends keyed messages straight to their owners while one of three handler
 * processes is killed with SIGKILL. Every publish that resolved must run on
 * some broker; keys whose owner did not change keep their publish order.
 */
import { startNatsServer, type NatsServer } from './harness/nats-server';
import { BrokerFleet } from './support/broker-fleet';
import type { BrokerProcess } from './support/broker-process';
import { awaitConvergence, awaitPublisherView } from './support/clique-waits';
import { readJournal, type Journal } from './support/journal';
import { ownerLookup } from './support/ring-view';
import { FAST_TIMERS, handlerConfig, MESSAGE_STREAM, publisherConfig } from './support/worker-configs';

const VIRTUAL_NODES = FAST_TIMERS.virtualNodes;
/** About 10,000 messages a second in batches of 200 in flight, for a bit more than a second. */
const STREAM = { count: 12_000, batch: 200, pauseMs: 10, keyCount: 600 } as const;
const KILL_AFTER_PUBLISHED = 3_000;
const POLL_MS = 50;

/** Polls `check` every POLL_MS until it holds, at most `timeoutMs`; returns whether it held. */
async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

describe.each([
  ['synchronous', 0],
  ['asynchronous (3 ms)', 3],
])('direct publishing with acknowledgement when an owner is killed with SIGKILL, %s handlers', (_label, handlerDelayMs) => {
  const fleet = new BrokerFleet();
  let server: NatsServer;

  beforeAll(async () => {
    server = await startNatsServer();
  });

  afterAll(async () => {
    await fleet.stop();
    await server?.stop();
  });

  it('loses no publish that resolved, keeps per-key order where the owner stayed, and bounds the duplicates', async () => {
    const nats = { servers: server.url };
    const prefix = `direct-${handlerDelayMs}`;
    const [handlers, publisher] = await Promise.all([
      Promise.all([1, 2, 3].map((i) => fleet.launch(`${prefix}-h${i}`, { ...handlerConfig(nats, `${prefix}-node-${i}`), handlerDelayMs }))),
      fleet.launch(`${prefix}-p`, publisherConfig(nats, `${prefix}-publisher`)),
    ]);
    const views = await awaitConvergence(handlers, 3 * VIRTUAL_NODES, 30_000);
    await awaitPublisherView(publisher, 3 * VIRTUAL_NODES, 10_000);
    const victim: BrokerProcess = handlers[1]!;
    const victimPositions = new Set(views[1]!.positions);
    const ownerBefore = ownerLookup(views[0]!.members);

    const streaming = publisher.publish(
      { stream: MESSAGE_STREAM, firstSeq: 0, keyPrefix: 'customer-', concurrent: true, ...STREAM },
      90_000,
    );
    await publisher.until((p) => p.published >= KILL_AFTER_PUBLISHED, 30_000, `${KILL_AFTER_PUBLISHED} published`);
    await victim.kill();
    const result = await streaming;

    const journals = (): Journal[] => [...handlers, publisher].map((w) => readJournal(w.config!.journal, w.label));
    const resolved = (): readonly number[] => journals().at(-1)!.published;
    const handledSeqs = (): Set<number> => new Set(journals().flatMap((j) => j.handled.map((r) => r.seq)));
    // The publisher keeps what the victim accepted and never handled, and sends it to the new owners.
    await eventually(() => {
      const handled = handledSeqs();
      return resolved().every((seq) => handled.has(seq));
    }, 30_000);

    const all = journals();
    const handled = handledSeqs();
    const published = resolved();
    expect(result.published + result.failed).toBe(STREAM.count);
    expect(published.length).toBe(result.published);
    expect(published.length).toBeGreaterThan(KILL_AFTER_PUBLISHED);
    expect(published.filter((seq) => !handled.has(seq))).toEqual([]);

    // Runs per sequence number, and each key's first runs in handling order (journals are per worker:
    // a key stays on one worker while its owner does not change).
    const runs = new Map<number, number>();
    const firstByKey = new Map<string, number[]>();
    for (const journal of all) {
      for (const record of journal.handled) {
        const seen = runs.get(record.seq) ?? 0;
        runs.set(record.seq, seen + 1);
        if (seen === 0) firstByKey.set(record.key, [...(firstByKey.get(record.key) ?? []), record.seq]);
      }
    }
    const keyOf = (seq: number): string => `customer-${seq % STREAM.keyCount}`;
    const victimKeys = new Set([...firstByKey.keys()].filter((key) => victimPositions.has(ownerBefore(key))));
    // The kill mattered: the survivors ran the dead owner's keys. (Whether the publisher itself found the owner
    // dead and moved what it held, its timedOut counter, or first heard the members' LEAV, is a race; not asserted.)
    const survivorsRan = all.filter((_, i) => i !== 1 && i < 3).flatMap((journal) => journal.handled.filter((record) => victimKeys.has(record.key)));
    expect(survivorsRan.length).toBeGreaterThan(0);
    const stayed = [...firstByKey].filter(([key]) => !victimKeys.has(key));
    expect(stayed.length).toBeGreaterThan(STREAM.keyCount / 2);
    for (const [key, order] of stayed) expect([key, order]).toEqual([key, [...order].sort((a, b) => a - b)]);

    // Duplicates: only messages the victim held can run twice (it ran them, its notice died with it).
    const duplicates = [...runs].filter(([, n]) => n > 1).map(([seq]) => seq);
    expect(duplicates.filter((seq) => !victimKeys.has(keyOf(seq)))).toEqual([]);
    const victimResolved = published.filter((seq) => victimKeys.has(keyOf(seq))).length;
    expect(duplicates.length).toBeLessThanOrEqual(victimResolved);
  }, 180_000);
});
