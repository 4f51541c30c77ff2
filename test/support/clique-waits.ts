import { waitAcross, type BrokerProcess } from './broker-process';
import { sameMembers } from './ring-view';
import type { RingView, WorkerCounters } from './worker-protocol';

const MAX_SETTLE_ROUNDS = 20;

function sizes(workers: readonly BrokerProcess[]): string {
  return workers.map((w) => `${w.label}=${w.ringSize}`).join(' ');
}

/**
 * Resolves with every worker's snapshot once all of them list the same
 * `expectedSize` members. Waits for ring events, then confirms with snapshots.
 */
export async function awaitConvergence(
  workers: readonly BrokerProcess[],
  expectedSize: number,
  timeoutMs: number,
): Promise<RingView[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await waitAcross(
      workers,
      () => workers.every((w) => w.ringSize === expectedSize),
      deadline - Date.now(),
      () => `rings of ${expectedSize} members (now ${sizes(workers)})`,
    );
    const seen = workers.map((w) => w.ringEvents);
    const views = await Promise.all(workers.map((w) => w.snapshot()));
    if (sameMembers(views) && views.every((view) => view.members.length === expectedSize)) return views;
    await waitAcross(
      workers,
      () => workers.some((w, i) => w.ringEvents !== seen[i]),
      deadline - Date.now(),
      () => `identical rings of ${expectedSize} members (sizes agree but members differ: ${sizes(workers)})`,
    );
  }
}

/** Resolves once the workers together have handled at least `total` messages. */
export function awaitHandled(workers: readonly BrokerProcess[], total: number, timeoutMs: number): Promise<void> {
  const handled = (): number => workers.reduce((sum, w) => sum + w.handled, 0);
  return waitAcross(workers, () => handled() >= total, timeoutMs, () => `${total} handled (now ${handled()})`);
}

/**
 * Settles every worker (flush, no handler running, no forward awaiting its
 * ACK) in rounds until two rounds in a row find the same counts: then no
 * message is still travelling between them, and late duplicates would show.
 */
export async function quiesce(workers: readonly BrokerProcess[], timeoutMs = 20_000): Promise<WorkerCounters[]> {
  const deadline = Date.now() + timeoutMs;
  let previous = '';
  for (let round = 0; round < MAX_SETTLE_ROUNDS; round++) {
    const counters = await Promise.all(workers.map((w) => w.settle(Math.max(deadline - Date.now(), 1))));
    const signature = counters.map((c) => `${c.received}/${c.forwarded}/${c.acked}/${c.handled}`).join(' ');
    if (signature === previous) return counters;
    previous = signature;
  }
  throw new Error(`counters still changing after ${MAX_SETTLE_ROUNDS} settle rounds: ${previous}`);
}

/**
 * Resolves once a publisher-only worker sees `expectedSize` ring members (the
 * view it sends keyed messages direct by); polls its snapshot, bounded.
 */
export async function awaitPublisherView(publisher: BrokerProcess, expectedSize: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await publisher.snapshot()).members.length !== expectedSize) {
    if (Date.now() > deadline) throw new Error(`the publisher's view did not reach ${expectedSize} members within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
