/**
 * Takeover after SIGKILL with default options (256 virtual nodes, 500 ms
 * ackTimeout, 10 s stabilization) on a real nats-server: three handler
 * processes and a publisher streaming keyed messages; one handler is killed
 * mid-stream, and the time until both survivors' rings hold none of its
 * positions (so neither routes to it any more) is measured, then it is
 * restarted for the next run. Prints p50/p90/p99/max over the runs.
 *
 *   npm run bench -- takeover [--runs=N]   (default 20)
 *
 * Nothing here passes or fails on timing; the bound in
 * core/broker-convergence.spec.ts is what is asserted.
 */
import { startNatsServer } from '../test/harness/nats-server';
import { BrokerFleet } from '../test/support/broker-fleet';
import { waitAcross, type BrokerProcess } from '../test/support/broker-process';
import { awaitConvergence } from '../test/support/clique-waits';
import { handlerConfig, MESSAGE_STREAM, publisherConfig } from '../test/support/worker-configs';

const POSITIONS = 256;
const runsFlag = process.argv.find((a) => a.startsWith('--runs='));
const RUNS = runsFlag === undefined ? 20 : Number(runsFlag.slice('--runs='.length));
/** About 5,000 messages a second over 10,000 keys, for about three seconds per run. */
const STREAM = { count: 15_000, batch: 100, pauseMs: 20, keyCount: 10_000, keyPrefix: 'customer-' } as const;
const KILL_AFTER_PUBLISHED = 2_500;
const GIVE_UP_MS = 30_000;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function main(): Promise<void> {
  if (!Number.isSafeInteger(RUNS) || RUNS < 1) throw new Error(`--runs needs a positive integer, received ${runsFlag}`);
  const server = await startNatsServer();
  const fleet = new BrokerFleet();
  const nats = { servers: server.url };
  const samples: number[] = [];
  try {
    const handlers: BrokerProcess[] = await Promise.all(
      [1, 2, 3].map((i) => fleet.launch(`handler-${i}`, handlerConfig(nats, `takeover-node-${i}`, {}))),
    );
    const publisher = await fleet.launch('publisher', publisherConfig(nats, 'takeover-publisher', {}));
    let firstSeq = 0;
    for (let run = 0; run < RUNS; run++) {
      await awaitConvergence(handlers, 3 * POSITIONS, GIVE_UP_MS);
      const victimIndex = run % handlers.length;
      const victim = handlers[victimIndex];
      const survivors = handlers.filter((h) => h !== victim);
      const streaming = publisher.publish({ stream: MESSAGE_STREAM, firstSeq, ...STREAM }, 60_000);
      firstSeq += STREAM.count;
      await publisher.until((p) => p.published >= firstSeq - STREAM.count + KILL_AFTER_PUBLISHED, GIVE_UP_MS, 'stream under way');

      const killedAt = await victim.kill();
      await waitAcross(survivors, () => survivors.every((s) => s.ringSize === 2 * POSITIONS), GIVE_UP_MS, 'survivors drop the victim');
      const elapsed = Date.now() - killedAt;
      samples.push(elapsed);
      console.log(`run ${String(run + 1).padStart(2)}: victim ${victim.label} gone from both survivors' rings after ${elapsed} ms`);
      await streaming;
      handlers[victimIndex] = await fleet.relaunch(victim, `handler-${victimIndex + 1}#${run + 1}`);
    }
  } finally {
    await fleet.stop();
    await server.stop();
  }
  const sorted = [...samples].sort((a, b) => a - b);
  console.log(`\ntakeover after SIGKILL, defaults, ${samples.length} runs (ms from kill to the last survivor's ring without the victim):`);
  console.log(`  p50 ${percentile(sorted, 50)}  p90 ${percentile(sorted, 90)}  p99 ${percentile(sorted, 99)}  max ${sorted[sorted.length - 1]}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
