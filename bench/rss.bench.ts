/**
 * RSS growth of a publisher and of its brokers over acknowledged keyed
 * publishes (issue 11: "RSS of a publisher and of a broker after 1,000,000
 * acked publishes within 10 % of after 200,000").
 *
 *   node -r ./test/support/ts-register.js bench/rss.bench.ts [messages] [--no-plateau] [--sources]
 *
 * On a real nats-server (its own, on a free loopback port): 3 handler broker
 * processes and 1 publisher-only broker process (bench-worker.ts), each
 * spawned with --expose-gc, so RSS is per role and sampled after a full
 * collection. The publisher sends `messages` 256-byte payloads with one of
 * 10,000 partition keys each, acknowledged (direct to the owner, kept until
 * handled), awaiting every 5,000 together. RSS and heap are sampled once the
 * first fifth has been handled everywhere and again after all of them; then,
 * unless --no-plateau, the publisher goes on to 3x `messages` and a third
 * sample shows whether the growth stopped (V8 sizes its young generation up
 * under load, to a fixed maximum: growth that ends there is not a leak).
 *
 * The peer, in the same run and on the same server: raw nats.js, 1 publisher
 * and 3 queue-subscriber processes, the same counts of 256-byte messages
 * (flushed every 5,000, no acknowledgement), sampled the same way. Its growth
 * shows how much of Flow's is the runtime's rather than Flow's.
 * The Flow workers run the built package, as users install it; --sources runs
 * the TypeScript sources instead (bench/support/built-library.ts).
 * Each sample is taken after two full collections (after one, V8 still
 * counts freed ArrayBuffers as external memory). RSS also holds what glibc's
 * malloc keeps of native memory freed since (socket and ArrayBuffer churn):
 * the "malloc heaps" column, from /proc/self/smaps (malloc-heap.ts).
 * Printed, never asserted.
 */
import { DEFAULTS } from 'nestjs-flow/core';
import { startNatsServer, type NatsServer } from '../test/harness/nats-server';
import { BenchProcess } from './support/bench-process';
import { useBuiltLibrary } from './support/built-library';
import type { BenchRole, PublishPlan, PublishReport, WorkerStats } from './support/bench-protocol';

/** The first number not a flag's value (bench/run.js passes every benchmark's flags to each). */
const MESSAGES = Math.min(
  Number(process.argv.find((a, i) => /^\d+$/.test(a) && !process.argv[i - 1]!.startsWith('--')) ?? 1_000_000),
  5_000_000,
);
const FIRST = Math.floor(MESSAGES / 5);
const PLATEAU = process.argv.includes('--no-plateau') ? undefined : 3 * MESSAGES;
const BROKERS = 3;
const SUBJECT = 'orders';
const PLAN: PublishPlan = { payloadBytes: 256, batch: 5_000, keys: 10_000, maxMs: 600_000, awaitEach: false, ack: true, window: undefined };
/** A phase ends when every message has been handled, or when nothing has been handled for this long. */
const STALL_MS = 10_000;
const MIB = 1024 * 1024;

async function launch(label: string, role: BenchRole, server: NatsServer, spawned: BenchProcess[]): Promise<BenchProcess> {
  const worker = await BenchProcess.spawn(label, ['--expose-gc']);
  spawned.push(worker);
  await worker.call({
    type: 'start',
    config: { role, servers: server.url, subject: SUBJECT, queue: 'bench', nodeName: label, messages: PLATEAU ?? MESSAGES },
  });
  return worker;
}

async function awaitRing(workers: readonly BenchProcess[]): Promise<void> {
  const expected = BROKERS * DEFAULTS.virtualNodes;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const members = (await Promise.all(workers.map((w) => w.call<WorkerStats>({ type: 'stats' })))).map((s) => s.members);
    if (members.every((m) => m === expected)) return;
    if (Date.now() > deadline) throw new Error(`ring did not converge to ${expected} members: ${members.join('/')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Resolves once the brokers have handled `total` distinct messages together, or made no progress for STALL_MS. */
async function awaitHandled(brokers: readonly BenchProcess[], total: number): Promise<number> {
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const sum = brokers.reduce((n, b) => n + b.distinct, 0);
    if (sum >= total) return sum;
    if (sum !== last) (last = sum), (lastChange = Date.now());
    if (Date.now() - lastChange > STALL_MS) return sum;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface Sample {
  handled: number;
  stats: WorkerStats[];
}

async function sample(workers: readonly BenchProcess[], handled: number): Promise<Sample> {
  const stats = await Promise.all(workers.map((w) => w.call<WorkerStats & { seen?: Uint8Array }>({ type: 'stats', memory: true })));
  return { handled, stats: stats.map(({ seen: _seen, ...rest }) => rest) };
}

interface Setup {
  name: string;
  receiver: BenchRole;
  publisher: BenchRole;
}

interface Measured {
  setup: Setup;
  labels: string[];
  early: Sample;
  late: Sample;
  plateau: Sample | undefined;
  failed: number;
  seconds: number;
}

const SETUPS: Setup[] = [
  { name: 'Flow', receiver: 'flow-broker', publisher: 'flow-publisher' },
  { name: 'raw nats.js', receiver: 'raw-subscriber', publisher: 'raw-publisher' },
];

/** Runs one setup in its own processes: publishes in phases and samples every process after each. */
async function measure(setup: Setup, server: NatsServer): Promise<Measured> {
  const spawned: BenchProcess[] = [];
  try {
    const receivers = await Promise.all(
      Array.from({ length: BROKERS }, (_, i) => launch(`${setup.receiver}-${i + 1}`, setup.receiver, server, spawned)),
    );
    const publisher = await launch(setup.publisher, setup.publisher, server, spawned);
    if (setup.receiver === 'flow-broker') await awaitRing([...receivers, publisher]);
    const workers = [publisher, ...receivers];
    const started = Date.now();
    const phase = async (from: number, to: number): Promise<{ report: PublishReport; sampled: Sample }> => {
      const report = await publisher.call<PublishReport>({ type: 'publish', plan: { ...PLAN, from, to } }, PLAN.maxMs);
      return { report, sampled: await sample(workers, await awaitHandled(receivers, to)) };
    };
    const first = await phase(0, FIRST);
    const rest = await phase(FIRST, MESSAGES);
    const beyond = PLATEAU === undefined ? undefined : await phase(MESSAGES, PLATEAU);
    return {
      setup,
      labels: workers.map((w) => w.label),
      early: first.sampled,
      late: rest.sampled,
      plateau: beyond?.sampled,
      failed: first.report.failed + rest.report.failed + (beyond?.report.failed ?? 0),
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await Promise.all(spawned.map((w) => w.exit()));
  }
}

async function main(): Promise<void> {
  console.log(useBuiltLibrary());
  await BenchProcess.warmTranspileCache();
  const server = await startNatsServer();
  try {
    const measured: Measured[] = [];
    for (const setup of SETUPS) measured.push(await measure(setup, server));
    for (const { setup, early, late, plateau, failed, seconds } of measured) {
      const what = setup.receiver === 'flow-broker' ? 'acknowledged keyed publishes (256 B, 10,000 keys)' : 'publishes (256 B) to a queue group';
      console.log(
        `\n${setup.name}: ${MESSAGES.toLocaleString('en')} ${what}, 1 publisher and ${BROKERS} receiving processes, ` +
          `${seconds.toFixed(1)} s; handled ${early.handled.toLocaleString('en')} then ${late.handled.toLocaleString('en')}` +
          `${plateau === undefined ? '' : ` then ${plateau.handled.toLocaleString('en')}`}; ` +
          `rejected ${failed}`,
      );
    }
    console.log(
      `\nRSS and heap used after a full GC, MiB; growth = after ${MESSAGES.toLocaleString('en')} / after ${FIRST.toLocaleString('en')} - 1 (target within 10 %); ` +
        `heap total (V8 heap reserved), its new space (young generation), external memory (ArrayBuffers) and the resident part of glibc malloc's heaps ` +
        `(native memory in use, and freed but kept), both samples\n`,
    );
    const rows = measured.flatMap(({ labels, early, late, plateau }) =>
      labels.map((label, i) => {
        const a = early.stats[i]!;
        const b = late.stats[i]!;
        return [
          label,
          (a.rssBytes / MIB).toFixed(1),
          (b.rssBytes / MIB).toFixed(1),
          `${((b.rssBytes / a.rssBytes - 1) * 100).toFixed(1)} %`,
          (a.heapUsedBytes / MIB).toFixed(1),
          (b.heapUsedBytes / MIB).toFixed(1),
          `${(a.heapTotalBytes / MIB).toFixed(1)} / ${(b.heapTotalBytes / MIB).toFixed(1)}`,
          `${(a.newSpaceBytes / MIB).toFixed(1)} / ${(b.newSpaceBytes / MIB).toFixed(1)}`,
          `${(a.externalBytes / MIB).toFixed(1)} / ${(b.externalBytes / MIB).toFixed(1)}`,
          `${(a.mallocHeapBytes / MIB).toFixed(1)} / ${(b.mallocHeapBytes / MIB).toFixed(1)}`,
          ...(plateau === undefined ? [] : plateauCells(b, plateau.stats[i]!)),
        ];
      }),
    );
    const header = [
      'role',
      `RSS @${FIRST / 1000}k`,
      `RSS @${MESSAGES / 1000}k`,
      'RSS growth',
      `heap @${FIRST / 1000}k`,
      `heap @${MESSAGES / 1000}k`,
      'heap total',
      'of it new space',
      'external',
      'malloc heaps',
      ...(PLATEAU === undefined ? [] : [`RSS @${PLATEAU / 1000}k`, `growth from @${MESSAGES / 1000}k`, `new space @${PLATEAU / 1000}k`]),
    ];
    const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
    for (const row of [header, ...rows]) console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
  } finally {
    await server.stop();
  }
}

function plateauCells(late: WorkerStats, last: WorkerStats): string[] {
  return [
    (last.rssBytes / MIB).toFixed(1),
    `${((last.rssBytes / late.rssBytes - 1) * 100).toFixed(1)} %`,
    (last.newSpaceBytes / MIB).toFixed(1),
  ];
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
