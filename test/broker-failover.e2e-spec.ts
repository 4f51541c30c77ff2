/**
 * A broker killed with SIGKILL in the middle of a stream, then restarted with
 * the same node key. Each broker runs in its own process on one nats-server.
 */
import { startNatsServer, type NatsServer } from './harness/nats-server';
import { BrokerFleet } from './support/broker-fleet';
import type { BrokerProcess } from './support/broker-process';
import { awaitConvergence, quiesce } from './support/clique-waits';
import { readJournal, seqRange, tally } from './support/journal';
import { runKeyedStream } from './support/keyed-stream';
import { ownerLookup } from './support/ring-view';
import type { RingView } from './support/worker-protocol';
import { FAST_TIMERS, handlerConfig, MESSAGE_STREAM, publisherConfig } from './support/worker-configs';

const VIRTUAL_NODES = FAST_TIMERS.virtualNodes;
/** The stream during which a broker dies: about 4,000 messages a second for about three seconds. */
const STREAM = { count: 12_000, batch: 200, pauseMs: 40 } as const;
const KILL_AFTER_PUBLISHED = 3_000;
const KEYS = 10_000;

type Ring = { label: string; view: RingView }[];

describe('a clique of three broker processes when one of them is killed with SIGKILL', () => {
  const fleet = new BrokerFleet();
  let server: NatsServer;
  let handlers: BrokerProcess[];
  let publisher: BrokerProcess;
  let before: Ring;
  let victim: BrokerProcess;
  let survivors: BrokerProcess[];

  beforeAll(async () => {
    server = await startNatsServer();
    const nats = { servers: server.url };
    [handlers, publisher] = await Promise.all([
      Promise.all([1, 2, 3].map((i) => fleet.launch(`broker-${i}`, handlerConfig(nats, `failover-node-${i}`)))),
      fleet.launch('publisher', publisherConfig(nats, 'failover-publisher')),
    ]);
    const views = await awaitConvergence(handlers, 3 * VIRTUAL_NODES, 30_000);
    before = handlers.map((h, i) => ({ label: h.label, view: views[i]! }));
    victim = handlers[1]!;
    survivors = handlers.filter((h) => h !== victim);
  });

  afterAll(async () => {
    await fleet.stop();
    await server?.stop();
  });

  it('removes all its positions, takes over its keys and handles every message that reached a live broker', async () => {
    const victimPositions = new Set(before[1]!.view.positions);
    const streaming = publisher.publish(
      { stream: MESSAGE_STREAM, firstSeq: 0, keyCount: KEYS, keyPrefix: 'customer-', ...STREAM },
      60_000,
    );
    await publisher.until((p) => p.published >= KILL_AFTER_PUBLISHED, 20_000, `${KILL_AFTER_PUBLISHED} published`);

    await victim.kill();
    const views = await awaitConvergence(survivors, 2 * VIRTUAL_NODES, 20_000);
    const published = await streaming;
    await quiesce(survivors);

    expect(views.flatMap((v) => v.members).filter((m) => victimPositions.has(m))).toEqual([]);
    const journals = handlers.map((h) => readJournal(h.config!.journal, h.label));
    const survivorJournals = journals.filter((j) => j.by !== victim.label);
    const result = tally(journals, seqRange(0, STREAM.count));
    const reachedLiveBroker = new Set(survivorJournals.flatMap((j) => j.received));
    const lostAfterReachingLiveBroker = result.missing.filter((seq) => reachedLiveBroker.has(seq));
    expect(published.published).toBe(STREAM.count);
    expect(lostAfterReachingLiveBroker).toEqual([]);
    // Not asserted: with a 200 ms ackTimeout a loaded machine suspects live members now and then, and their
    // keys are handled by a successor until stabilization brings them back. broker-cluster asserts ownership
    // with patient timers.
    const ownerAfter = ownerLookup(views[0]!.members);
    const victimKeys = keysOwnedBy(before, victimPositions);
    expect(victimKeys.filter((key) => victimPositions.has(ownerAfter(key)))).toEqual([]);
    const handledAfterKill = survivorJournals.flatMap((j) => j.handled).filter((r) => victimKeys.includes(r.key));
    expect(handledAfterKill.length).toBeGreaterThan(0);
    // At least once: every duplicate is a forward retried after the kill.
    const retried = (await Promise.all(survivors.map((s) => s.counters()))).reduce((sum, c) => sum + c.retried, 0);
    expect(result.duplicates).toBeLessThanOrEqual(retried);
  });

  it('gives a broker restarted with the same node key its positions and its keys back on every broker', async () => {
    const restarted = await fleet.relaunch(victim);
    const clique = [survivors[0]!, restarted, survivors[1]!];
    const views = await awaitConvergence(clique, 3 * VIRTUAL_NODES, 20_000);
    const victimPositions = new Set(before[1]!.view.positions);
    const victimKeys = keysOwnedBy(before, victimPositions);

    expect(views[1]!.positions).toEqual(before[1]!.view.positions);
    expect(views[0]!.members).toEqual(before[0]!.view.members);
    const owners = await Promise.all(clique.map((b) => b.ownerOf(victimKeys)));
    for (const ownersOnOneBroker of owners) {
      expect(ownersOnOneBroker.filter((owner) => !victimPositions.has(owner ?? ''))).toEqual([]);
    }

    const ring = clique.map((b, i) => ({ label: b.label, view: views[i]! }));
    const run = await runKeyedStream({
      publisher,
      handlers: clique,
      ring,
      count: 3_000,
      firstSeq: STREAM.count,
      keyCount: KEYS,
      window: 1_000,
    });
    // With a 200 ms ackTimeout a loaded machine may delay an ACK into a retry: at least once, not exactly once.
    const { retried } = run;
    const journal = readJournal(restarted.config!.journal, restarted.label);
    expect(run.tally.missing).toEqual([]);
    expect(run.tally.duplicates).toBeLessThanOrEqual(retried);
    expect(journal.handled.filter((r) => victimKeys.includes(r.key)).length).toBeGreaterThan(0);
  });
});

/** The partition keys of the stream that `positions` own on `ring`. */
function keysOwnedBy(ring: Ring, positions: ReadonlySet<string>): string[] {
  const ownerOf = ownerLookup(ring[0]!.view.members);
  return Array.from({ length: KEYS }, (_, i) => `customer-${i}`).filter((key) => positions.has(ownerOf(key)));
}
