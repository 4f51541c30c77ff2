/**
 * Rebalancing on a real nats-server (issue 13): three handler processes
 * (async handler of about 1 ms, default options) and a publisher sending
 * paced keyed traffic with acknowledged direct publishing. Each run:
 *
 *   (a) graceful leave: SIGTERM one broker (in turn), keep it down for
 *       LEAVE_WINDOW_MS, then start it again. For publishes sent in that window,
 *       the latency of keys that moved (their owner was the leaver) against
 *       keys that did not: publish() resolve time, and handler start - publish
 *       time; median and p99 over all runs, and the moved/unmoved ratio.
 *   (b) rolling restart: each broker in turn SIGTERM, exit, start again with
 *       the same node name, rings whole again, next. Publishes resolved per
 *       second during the roll against the steady phase before it (ratio per run).
 *
 * Every run also checks the journals (lost, handled twice, per-key order,
 * overlaps) and prints the counts.
 *
 *   npm run bench -- rebalance [--runs=N]   (default 3)
 *
 * Nothing here passes or fails on timing.
 */
import { startNatsServer } from '../test/harness/nats-server';
import { BrokerFleet } from '../test/support/broker-fleet';
import type { BrokerProcess } from '../test/support/broker-process';
import { awaitConvergence, awaitPublisherView, quiesce } from '../test/support/clique-waits';
import { checkHandling, describeHandling, resolvedRate } from '../test/support/handling-checks';
import { journalClock, readJournal, type HandledRecord, type Journal } from '../test/support/journal';
import { ownerLookup } from '../test/support/ring-view';
import { restartOne, rollingRestart } from '../test/support/rolling-restart';
import { SteadyPublisher, type SteadyTraffic } from '../test/support/steady-publisher';
import { handlerConfig, publisherConfig } from '../test/support/worker-configs';

const POSITIONS = 256;
const runsFlag = process.argv.find((a) => a.startsWith('--runs='));
const RUNS = runsFlag === undefined ? 3 : Number(runsFlag.slice('--runs='.length));
const KEYS = 256;
const HANDLER_DELAY_MS = 1;
/** Batches of 32 publishes (distinct keys), then 2 ms: paced, at most about 16,000 a second. */
const TRAFFIC: SteadyTraffic = { keyCount: KEYS, keyPrefix: 'account-', batch: 32, pauseMs: 2, chunk: 4 * KEYS, maxMessages: 5_000_000, maxMs: 15 * 60_000 };
/** Publishes resolved before each steady window (warm-up), and in it. */
const WARM_UP = 3_000;
const STEADY = 6_000;
const LEAVE_WINDOW_MS = 2_000;
const STEP_TIMEOUT_MS = 30_000;

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

interface Samples {
  resolve: number[];
  start: number[];
}

const fmt = (ms: number): string => (Number.isNaN(ms) ? '-' : ms.toFixed(1));
const pad = (cells: readonly string[], widths: readonly number[]): string => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');

async function main(): Promise<void> {
  if (!Number.isSafeInteger(RUNS) || RUNS < 1) throw new Error(`--runs needs a positive integer, received ${runsFlag}`);
  const benchStart = journalClock();
  const server = await startNatsServer();
  const fleet = new BrokerFleet();
  const nats = { servers: server.url };
  const moved: Samples = { resolve: [], start: [] };
  const unmoved: Samples = { resolve: [], start: [] };
  const throughput: { steady: number; roll: number }[] = [];
  let traffic: SteadyPublisher | undefined;
  try {
    const handlers: BrokerProcess[] = await Promise.all(
      [1, 2, 3].map((i) =>
        fleet.launch(`handler-${i}`, { ...handlerConfig(nats, `rebalance-node-${i}`, {}), handlerDelayMs: HANDLER_DELAY_MS }),
      ),
    );
    const everyone = [...handlers];
    const publisher = await fleet.launch('publisher', publisherConfig(nats, 'rebalance-publisher', {}));
    await awaitConvergence(handlers, 3 * POSITIONS, STEP_TIMEOUT_MS);
    await awaitPublisherView(publisher, 3 * POSITIONS, STEP_TIMEOUT_MS);
    traffic = new SteadyPublisher(publisher, TRAFFIC);
    const resolvedBy = async (count: number): Promise<void> =>
      publisher.until((p) => p.published >= count, STEP_TIMEOUT_MS, `${count} publishes resolved`);
    const options = { positions: POSITIONS, timeoutMs: STEP_TIMEOUT_MS };

    for (let run = 0; run < RUNS; run++) {
      // (a) one graceful leave, the leaver down for the whole window.
      await resolvedBy(publisher.published + WARM_UP);
      const index = run % handlers.length;
      const ring = await handlers[0]!.snapshot();
      const ownerBefore = ownerLookup(ring.members);
      const leaverPositions = new Set((await handlers[index]!.snapshot()).positions);
      const leave = await restartOne(fleet, handlers, index, publisher, {
        ...options,
        label: (w) => `${w.label.split('#')[0]}#${run + 1}a`,
        beforeRestart: async ({ terminatedAt }) => {
          const left = terminatedAt + LEAVE_WINDOW_MS - journalClock();
          if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
        },
      });
      everyone.push(handlers[index]!);

      // (b) a rolling restart after a steady phase.
      await resolvedBy(publisher.published + WARM_UP);
      const steadyFrom = journalClock();
      await resolvedBy(publisher.published + STEADY);
      const rollFrom = journalClock();
      await rollingRestart(fleet, handlers, publisher, { ...options, label: (w) => `${w.label.split('#')[0]}#${run + 1}b` });
      const rollTo = journalClock();
      everyone.push(...handlers);

      const publishes = readJournal(publisher.config!.journal, publisher.label).publishes;
      const firstRun = new Map<number, HandledRecord>();
      for (const journal of everyone.map((w) => readJournal(w.config!.journal, w.label))) {
        for (const record of journal.handled) {
          const seen = firstRun.get(record.seq);
          if (seen === undefined || record.start! < seen.start!) firstRun.set(record.seq, record);
        }
      }
      const windowEnd = leave.terminatedAt + LEAVE_WINDOW_MS;
      for (const p of publishes) {
        if (p.sent < leave.terminatedAt || p.sent >= windowEnd) continue;
        const into = leaverPositions.has(ownerBefore(`${TRAFFIC.keyPrefix}${p.seq % KEYS}`)) ? moved : unmoved;
        into.resolve.push(p.resolved - p.sent);
        const handled = firstRun.get(p.seq);
        if (handled !== undefined) into.start.push(handled.start! - p.sent);
      }
      const steady = resolvedRate(publishes, steadyFrom, rollFrom);
      const roll = resolvedRate(publishes, rollFrom, rollTo);
      throughput.push({ steady, roll });
      console.log(
        `run ${run + 1}: leave of ${leave.label} (exit ${leave.exit}, ${(leave.exitedAt - leave.terminatedAt).toFixed(0)} ms to exit); ` +
          `roll ${(rollTo - rollFrom).toFixed(0)} ms, ${roll.toFixed(0)}/s vs steady ${steady.toFixed(0)}/s`,
      );
    }

    const sent = await traffic.stop();
    traffic = undefined;
    await quiesce(handlers);
    const journals: Journal[] = everyone.map((w) => readJournal(w.config!.journal, w.label));
    const report = checkHandling(journals, readJournal(publisher.config!.journal, publisher.label).published);
    console.log(
      `\nchecks over ${sent.published} resolved publishes (${sent.failed} failed): lost ${report.lost.length}, handled twice ${report.handledTwice}, ` +
        `order violations ${report.orderViolations.length}, overlaps ${report.overlaps.length}`,
    );
    const clean = report.lost.length + report.handledTwice + report.orderViolations.length + report.overlaps.length === 0;
    if (!clean) console.log(`  ${describeHandling(report, benchStart)}`);
  } finally {
    await traffic?.stop().catch(() => undefined);
    await fleet.stop();
    await server.stop();
  }

  const widths = [34, 8, 8, 8, 8];
  console.log(`\n(a) graceful leave of 1 of 3 brokers, publishes sent in the ${LEAVE_WINDOW_MS} ms after SIGTERM, ${RUNS} runs, ${KEYS} keys:`);
  console.log(pad(['latency, ms', 'samples', 'p50', 'p99', 'max'], widths));
  const rows: [string, number[]][] = [
    ['publish() resolve, moved keys', moved.resolve],
    ['publish() resolve, unmoved keys', unmoved.resolve],
    ['handler start - publish, moved', moved.start],
    ['handler start - publish, unmoved', unmoved.start],
  ];
  const stats = new Map<string, { p50: number; p99: number }>();
  for (const [label, values] of rows) {
    const sorted = [...values].sort((a, b) => a - b);
    const row = { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
    stats.set(label, row);
    console.log(pad([label, String(values.length), fmt(row.p50), fmt(row.p99), fmt(sorted.at(-1) ?? Number.NaN)], widths));
  }
  const ratio = (a: string, b: string, p: 'p50' | 'p99'): string => (stats.get(a)![p] / stats.get(b)![p]).toFixed(2);
  console.log(
    `moved / unmoved: resolve p50 x${ratio(rows[0]![0], rows[1]![0], 'p50')}, p99 x${ratio(rows[0]![0], rows[1]![0], 'p99')}; ` +
      `handler start p50 x${ratio(rows[2]![0], rows[3]![0], 'p50')}, p99 x${ratio(rows[2]![0], rows[3]![0], 'p99')}`,
  );
  const ratios = throughput.map((t) => t.roll / t.steady).sort((a, b) => a - b);
  console.log(`\n(b) rolling restart of 3 brokers, publishes resolved per second during the roll / steady phase before it:`);
  console.log(`  per run ${throughput.map((t) => `${t.roll.toFixed(0)}/${t.steady.toFixed(0)} = ${(t.roll / t.steady).toFixed(2)}`).join(', ')}`);
  console.log(`  median ratio ${percentile(ratios, 50).toFixed(2)}, min ${ratios[0]!.toFixed(2)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
