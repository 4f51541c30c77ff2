/**
 * Flow core on a real nats-server against raw nats.js, each side in its own
 * processes, measured in one run.
 *
 *   node -r ./test/support/ts-register.js bench/nats-core.bench.ts [messages] [--warm-up N] [--rounds N] [--profile] [--await-each] [--sources]
 *
 * (a) raw nats.js: 1 publisher process, 3 queue-subscriber processes.
 * (b) Flow core: 1 publisher-only broker process (Broker.publish with one of
 *     10,000 partition keys per message), 3 handler broker processes with the
 *     default options. The publisher knows the ring and sends each message
 *     direct to its owner, with acknowledgement (resolved on acceptance, kept
 *     until handled).
 * (c) the same, fire and forget (`ack: false`).
 *
 * NATS messages per keyed message: the server's in_msgs (monitoring /varz)
 * during the run divided by the messages delivered. JS heap bytes allocated
 * per message, receivers together and publisher: bench/support/heap-allocation.ts,
 * before and after the run. The whole machine's CPUs during each run, busy,
 * idle and stolen by the hypervisor (/proc/stat): a round that got less
 * machine shows as stolen time, which no process's CPU counts.
 *
 * Both publish `messages` 256-byte payloads, in two modes:
 * - flushed: the publisher awaits a flush every 5,000 messages, so that the
 *   server is not overrun; nothing else holds it back.
 * - paced: in addition, at most WINDOW messages are outstanding (published
 *   and not yet received or handled): the parent relays the receivers'
 *   progress to the publisher. This is the rate a clique sustains.
 * Each run first publishes a warm-up (--warm-up N, default 100,000, see
 * WARM_UP) in the same way and waits until it has all arrived; only the
 * messages after it are measured, and every figure (CPU, system calls,
 * allocation, counters) is taken over them alone.
 *
 * End to end = first publish until every message has been received (raw) or
 * handled (Flow) once, across processes on one clock; duplicates are counted
 * apart. Printed, never asserted; the target is (b)/(a) and (c)/(a) >= 0.5,
 * with CPU per message over all processes <= 2 x raw.
 *
 * --rounds N repeats raw, acked and fire and forget N times per mode, each
 * round in its own processes, and prints each round's ratios against the raw
 * run of the same round, then their medians: on a shared 2-core machine one
 * round's ratio moves by 0.05 or more from run to run. Even rounds run the
 * three in reverse order, so that a drift of the machine's speed does not
 * favour the same side in every round.
 *
 * The Flow publisher awaits each batch's publish() promises together;
 * --await-each awaits every publish() instead (see PublishPlan.awaitEach).
 * --profile takes a CPU profile (node:inspector) of the first receiver and
 * the publisher of each run of the first round (raw nats.js too, for
 * comparison), from the first publish until every message arrived, and
 * prints their top self-time functions and files. The profiler samples wall
 * time on the main thread: on 2 busy cores a function that writes to a socket
 * also collects the time the process waits for a core, and the collector's
 * helper threads are not in it. The profiler's own cost shows in the CPU and
 * rate columns of those runs. With
 * FLOW_BENCH_PROFILE_DIR set, the .cpuprofile files are kept there (open them
 * in Chrome DevTools for call trees); FLOW_BENCH_PROFILE_US sets the sampling
 * interval in µs (default 1,000: a receiver's run gives a few hundred samples). --alloc-profile takes V8's sampling
 * heap profile of the same processes instead and prints the bytes each
 * allocating function (with its caller) allocated per message. --scavenges
 * runs every worker with --trace-gc-nvp and prints, per run, how many
 * scavenges the receivers and the publisher did and the median bytes each
 * kept in the young generation and promoted.
 *
 * The Flow workers run the built package, as users install it; --sources runs
 * the TypeScript sources instead (bench/support/built-library.ts).
 *
 * It starts its own nats-server on a free loopback port and stops it, and
 * every worker, by PID.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULTS } from 'nestjs-flow/core';
import { startNatsServer, type NatsServer } from '../test/harness/nats-server';
import { BenchProcess } from './support/bench-process';
import type { BenchRole, PublishPlan, PublishReport, WorkerStats } from './support/bench-protocol';
import { summarizeAllocations, summarizeProfile, type SelfTime } from './support/cpu-profile';
import { median } from './support/median';
import { useBuiltLibrary } from './support/built-library';
import { machineCpuFrom, machineShares, processCpuSeconds, syscallsFrom, type MachineCpu } from './support/proc-cpu';
import { serverVarz } from './support/server-varz';

const MESSAGES = Math.min(
  Number(process.argv.find((a, i) => /^\d+$/.test(a) && !process.argv[i - 1]!.startsWith('--')) ?? 300_000),
  5_000_000,
);
/**
 * Messages each run publishes before it measures, in the same processes, to
 * the same receivers (--warm-up N; 0 measures from a cold start, as the
 * records before the eleventh session did). A process that has just started
 * compiles its hot code while it runs: over a cold run of 300,000 messages,
 * V8's compiler threads took 18 to 36 % of each side's CPU (perf), raw
 * nats.js's included, and a cold run of 1,000,000 reached twice the
 * per-second rate of one of 300,000 on both sides.
 */
const WARM_UP = integerArgument('--warm-up', 100_000, 0, 5_000_000);
const ALLOCATIONS = process.argv.includes('--alloc-profile');
/** Workers run with --trace-gc-nvp, and each run's scavenges are summarized (see ScavengeSummary). */
const SCAVENGES = process.argv.includes('--scavenges');
const PROFILE = process.argv.includes('--profile') || ALLOCATIONS;
const ROUNDS = roundsArgument();
/**
 * Outstanding messages in paced mode; FLOW_BENCH_WINDOW overrides. Beyond
 * about 15,000, a 3-broker clique on 2 cores queues its ACKs past the 500 ms
 * ackTimeout: forwards are retried and members suspected.
 */
const WINDOW = Number(process.env.FLOW_BENCH_WINDOW ?? 10_000);
const BASE_PLAN: Omit<PublishPlan, 'window'> = {
  payloadBytes: 256,
  batch: 5_000,
  keys: 10_000,
  maxMs: 120_000,
  awaitEach: process.argv.includes('--await-each'),
  ack: true,
};
const MODES = [
  { mode: 'flushed', window: undefined },
  { mode: 'paced', window: WINDOW },
] as const;
const SUBJECT = 'orders';
/** A run ends when every message has arrived, or when nothing has arrived for this long (drops). */
const STALL_MS = 10_000;
const MAX_WAIT_MS = 180_000;
const MIB = 1024 * 1024;

type Stats = WorkerStats & { seen: Uint8Array };

/** What the scavenges of some processes during a run kept: their count, and the median bytes each kept and promoted. */
interface ScavengeSummary {
  count: number;
  survived: number;
  promoted: number;
}

interface RunResult {
  /** With --scavenges: the receivers' (together) and the publisher's. */
  scavenges?: { receivers: ScavengeSummary; publisher: ScavengeSummary };
  name: string;
  mode: string;
  /** 1-based round (--rounds). */
  round: number;
  published: number;
  publishMs: number;
  received: number;
  distinct: number;
  elapsedMs: number;
  forwarded: number | undefined;
  retried: number | undefined;
  /** Ring members each broker knew at the end (Flow). */
  members: (number | undefined)[];
  receivers: WorkerStats[];
  publisher: WorkerStats;
  slowConsumers: number;
  /** Messages the server took in during the run, per distinct message delivered. */
  natsPerMessage: number;
  /** CPU seconds spent during the run by the receivers together, the publisher and nats-server. */
  cpu: { receivers: number; publisher: number; server: number };
  /**
   * Read and write system calls during the run (/proc/<pid>/io: sockets, and
   * the bench's own IPC pipe): the receivers together, the publisher, nats-server.
   */
  syscalls: { receivers: { reads: number; writes: number }; publisher: { reads: number; writes: number }; server: { reads: number; writes: number } };
  /** Of `cpu`, system (kernel) seconds: the receivers together and the publisher. */
  system: { receivers: number; publisher: number };
  /** Of `cpu`, seconds on threads other than the main one (V8's collector helpers and compiler, libuv's pool). */
  offMain: { receivers: number; publisher: number };
  /** Main-thread GC pauses during the run, ms: the receivers together and the publisher. */
  gcPauseMs: { receivers: number; publisher: number };
  /** Bytes allocated on the JS heap during the run (WorkerStats.allocatedBytes): the receivers together and the publisher. */
  allocated: { receivers: number; publisher: number };
  /** The whole machine's CPUs from the first publish until every message arrived: busy, idle, stolen. */
  machine: MachineCpu;
}

async function launch(
  label: string,
  role: BenchRole,
  server: NatsServer,
  spawned: BenchProcess[],
  nodeFlags: readonly string[],
): Promise<BenchProcess> {
  const worker = await BenchProcess.spawn(label, nodeFlags);
  spawned.push(worker);
  await worker.call({
    type: 'start',
    config: { role, servers: server.url, subject: SUBJECT, queue: 'bench', nodeName: label, messages: WARM_UP + MESSAGES },
  });
  return worker;
}

/**
 * Resolves once the receivers' distinct counts add up to `total`, or once
 * their sum has not moved for STALL_MS. The sum can exceed the union when
 * two brokers handled the same message: collectStats() then waits for the rest.
 */
async function awaitReceivers(receivers: readonly BenchProcess[], total: number): Promise<void> {
  const started = Date.now();
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const sum = receivers.reduce((n, r) => n + r.distinct, 0);
    if (sum >= total) return;
    if (sum !== last) {
      last = sum;
      lastChange = Date.now();
    }
    if (Date.now() - lastChange > STALL_MS || Date.now() - started > MAX_WAIT_MS) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * The receivers' final stats and how many distinct messages they took
 * together; polls until that union reaches `total` or stops growing for
 * STALL_MS (only duplicates across brokers make it lag the sum).
 */
async function collectStats(receivers: readonly BenchProcess[], total: number): Promise<{ stats: Stats[]; union: number }> {
  let lastUnion = -1;
  let lastChange = Date.now();
  for (;;) {
    const stats = await Promise.all(receivers.map((r) => r.call<Stats>({ type: 'stats' })));
    // The measured messages only, after the warm-up's.
    const seen = new Uint8Array(MESSAGES);
    for (const s of stats) for (let i = 0; i < MESSAGES; i++) seen[i] |= s.seen[WARM_UP + i]!;
    const union = seen.reduce((n, v) => n + (v === 0 ? 0 : 1), 0);
    if (union !== lastUnion) {
      lastUnion = union;
      lastChange = Date.now();
    }
    if (union >= total || Date.now() - lastChange > STALL_MS) return { stats, union };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Polls the brokers (and a publisher's view) until each knows all 3 x virtual-nodes members (bounded). */
async function awaitRing(brokers: readonly BenchProcess[], expected = brokers.length * DEFAULTS.virtualNodes): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const members = (await Promise.all(brokers.map((b) => b.call<Stats>({ type: 'stats' })))).map((s) => s.members);
    if (members.every((m) => m === expected)) return;
    if (Date.now() > deadline) throw new Error(`ring did not converge to ${expected} members: ${members.join('/')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}


function countSlowConsumers(server: NatsServer): number {
  return (server.logs().match(/Slow Consumer/gi) ?? []).length;
}

async function run(
  name: string,
  server: NatsServer,
  roles: { receiver: BenchRole; publisher: BenchRole },
  mode: (typeof MODES)[number],
  round: number,
  profileDir: string | undefined,
  ack = true,
): Promise<RunResult> {
  const spawned: BenchProcess[] = [];
  try {
    const receivers = await Promise.all(
      [1, 2, 3].map((i) =>
        launch(`${roles.receiver}-${i}`, roles.receiver, server, spawned, SCAVENGES ? ['--trace-gc-nvp'] : []),
      ),
    );
    const publisher = await launch(roles.publisher, roles.publisher, server, spawned, SCAVENGES ? ['--trace-gc-nvp'] : []);
    if (roles.receiver === 'flow-broker') await awaitRing([...receivers, publisher], receivers.length * DEFAULTS.virtualNodes);
    if (mode.window !== undefined) {
      const relay = (): void => publisher.sendCredit(receivers.reduce((n, r) => n + r.distinct, 0));
      for (const receiver of receivers) receiver.onProgress = relay;
    }
    if (WARM_UP > 0) {
      await publisher.call<PublishReport>({ type: 'publish', plan: { ...BASE_PLAN, window: mode.window, ack, from: 0, to: WARM_UP } }, BASE_PLAN.maxMs + 30_000);
      await awaitReceivers(receivers, WARM_UP);
    }
    const slowBefore = countSlowConsumers(server);
    const cpuBefore = await Promise.all([...receivers, publisher].map((w) => w.call<Stats>({ type: 'stats' })));
    for (const worker of [...receivers, publisher]) worker.resetScavenges();
    const serverCpuBefore = processCpuSeconds(server.pid);
    const syscallsSince = syscallsFrom([...receivers, publisher, server].map((p) => p.pid));
    const inMsgsBefore = (await serverVarz(server)).inMsgs;

    // Profiled: the first receiver and the publisher, from here until every message arrived.
    const profiled = profileDir === undefined ? [] : [{ worker: receivers[0]!, what: 'receiver' }, { worker: publisher, what: 'publisher' }];
    await Promise.all(profiled.map(({ worker }) => worker.call({ type: 'profile-start', allocations: ALLOCATIONS })));
    const plan: PublishPlan = { ...BASE_PLAN, window: mode.window, ack, from: WARM_UP, to: WARM_UP + MESSAGES };
    const machineSince = machineCpuFrom();
    const report = await publisher.call<PublishReport>({ type: 'publish', plan }, plan.maxMs + 30_000);
    await awaitReceivers(receivers, WARM_UP + report.published);
    const scavenges = SCAVENGES ? { receivers: summarizeScavenges(receivers), publisher: summarizeScavenges([publisher]) } : undefined;
    const machine = machineSince();
    for (const { worker, what } of profiled) {
      mkdirSync(join(profileDir!, what), { recursive: true });
      await worker.call({ type: 'profile-stop', path: join(profileDir!, what, `${what}.${ALLOCATIONS ? 'heapprofile' : 'cpuprofile'}`) });
    }
    const { stats, union } = await collectStats(receivers, report.published);
    const publisherStats = await publisher.call<Stats>({ type: 'stats' });
    const serverCpu = processCpuSeconds(server.pid) - serverCpuBefore;
    const syscalls = syscallsSince();
    const receiverSyscalls = syscalls.slice(0, receivers.length).reduce((a, b) => ({ reads: a.reads + b.reads, writes: a.writes + b.writes }));
    const natsPerMessage = ((await serverVarz(server)).inMsgs - inMsgsBefore) / Math.max(union, 1);
    const cpuOf = (after: WorkerStats, i: number): number => (after.cpuUs - cpuBefore[i]!.cpuUs) / 1e6;
    const systemOf = (after: WorkerStats, i: number): number => (after.cpuSystemUs - cpuBefore[i]!.cpuSystemUs) / 1e6;
    const offMainOf = (after: WorkerStats, i: number): number => cpuOf(after, i) - (after.cpuMainThreadUs - cpuBefore[i]!.cpuMainThreadUs) / 1e6;
    const gcOf = (after: WorkerStats, i: number): number => after.gcPauseMs - cpuBefore[i]!.gcPauseMs;
    const allocatedOf = (after: WorkerStats, i: number): number => after.allocatedBytes - cpuBefore[i]!.allocatedBytes;
    const counters = stats.map((s) => s.counters);
    // Counted during the measured run: the warm-up's are in the stats taken before it.
    const sum = (field: string): number | undefined =>
      counters[0] === undefined ? undefined : counters.reduce((n, c, i) => n + (c?.[field] ?? 0) - (cpuBefore[i]!.counters?.[field] ?? 0), 0);
    return {
      scavenges,
      name,
      round,
      mode: mode.window === undefined ? mode.mode : `${mode.mode} (${mode.window.toLocaleString('en')})`,
      published: report.published,
      publishMs: report.lastAt - report.firstAt,
      received: stats.reduce((n, s, i) => n + s.count - cpuBefore[i]!.count, 0),
      distinct: union,
      elapsedMs: Math.max(...stats.map((s) => s.lastNewAt)) - report.firstAt,
      forwarded: sum('forwarded'),
      retried: sum('retried'),
      members: stats.map((s) => s.members),
      receivers: stats.map(({ seen: _seen, ...rest }) => rest),
      publisher: publisherStats,
      slowConsumers: countSlowConsumers(server) - slowBefore,
      natsPerMessage,
      cpu: {
        receivers: stats.reduce((n, s, i) => n + cpuOf(s, i), 0),
        publisher: cpuOf(publisherStats, stats.length),
        server: serverCpu,
      },
      syscalls: { receivers: receiverSyscalls, publisher: syscalls[receivers.length]!, server: syscalls[receivers.length + 1]! },
      system: {
        receivers: stats.reduce((n, s, i) => n + systemOf(s, i), 0),
        publisher: systemOf(publisherStats, stats.length),
      },
      offMain: {
        receivers: stats.reduce((n, s, i) => n + offMainOf(s, i), 0),
        publisher: offMainOf(publisherStats, stats.length),
      },
      gcPauseMs: {
        receivers: stats.reduce((n, s, i) => n + gcOf(s, i), 0),
        publisher: gcOf(publisherStats, stats.length),
      },
      allocated: {
        receivers: stats.reduce((n, s, i) => n + allocatedOf(s, i), 0),
        publisher: allocatedOf(publisherStats, stats.length),
      },
      machine,
    };
  } finally {
    await Promise.all(spawned.map((w) => w.exit()));
  }
}

function rate(r: RunResult): number {
  return (r.distinct / r.elapsedMs) * 1000;
}

function cpuPerMessage(r: RunResult): number {
  return ((r.cpu.receivers + r.cpu.publisher + r.cpu.server) * 1e6) / r.distinct;
}

/** Receivers' and publisher's JS heap allocation per delivered message, "R / P" bytes. */
function allocatedPerMessage(r: RunResult): string {
  const per = (bytes: number): string => Math.round(bytes / Math.max(r.distinct, 1)).toLocaleString('en');
  return `${per(r.allocated.receivers)} / ${per(r.allocated.publisher)}`;
}

/** --rounds N (1 to 20), default 1. */
function roundsArgument(): number {
  return integerArgument('--rounds', 1, 1, 20);
}

/** The integer after `flag` on the command line, `fallback` without the flag. */
function integerArgument(flag: string, fallback: number, min: number, max: number): number {
  const at = process.argv.indexOf(flag);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${flag} must be an integer from ${min} to ${max}`);
  return value;
}

function summarizeScavenges(workers: BenchProcess[]): ScavengeSummary {
  const survived = workers.flatMap((w) => w.scavenges.survived);
  const promoted = workers.flatMap((w) => w.scavenges.promoted);
  return { count: survived.length, survived: survived.length === 0 ? 0 : median(survived), promoted: promoted.length === 0 ? 0 : median(promoted) };
}

/** --scavenges: what each run's scavenges kept, receivers and publisher. */
function printScavenges(results: RunResult[]): void {
  const kb = (bytes: number): string => (bytes / 1024).toFixed(1);
  const cell = (s: ScavengeSummary): string => `${String(s.count).padStart(4)} scavenges, each kept ${kb(s.survived).padStart(6)} KB, promoted ${kb(s.promoted).padStart(6)} KB`;
  console.log('\nScavenges during each run (--trace-gc-nvp; medians): what survives one grows the young generation, and RSS');
  for (const r of results) {
    if (r.scavenges === undefined) continue;
    console.log(`${`${r.name}, ${r.mode}${ROUNDS > 1 ? `, round ${r.round}` : ''}`.padEnd(72)} receivers: ${cell(r.scavenges.receivers)}; publisher: ${cell(r.scavenges.publisher)}`);
  }
}

function printResults(results: RunResult[]): void {
  const mib = (bytes: number): string => (bytes / MIB).toFixed(0);
  const header = [
    'run', 'mode', 'published', 'pub ms', 'received', 'distinct', 'e2e ms', 'msgs/s', 'fwd', 'retried',
    'ring at end', 'NATS/msg', 'slow cons.', 'recv RSS MiB', 'pub RSS', 'CPU s recv/pub/srv',
    'of it sys s recv/pub', 'off main thread s recv/pub', 'GC ms recv/pub', 'alloc B/msg recv/pub',
    'syscalls r+w /1k msgs recv/pub/srv',
  ];
  const rows = results.map((r) => [
    r.name,
    r.mode,
    r.published.toLocaleString('en'),
    r.publishMs.toFixed(0),
    r.received.toLocaleString('en'),
    r.distinct.toLocaleString('en'),
    r.elapsedMs.toFixed(0),
    Math.round(rate(r)).toLocaleString('en'),
    r.forwarded === undefined ? '-' : `${((100 * r.forwarded) / Math.max(r.received, 1)).toFixed(1)} %`,
    r.retried === undefined ? '-' : String(r.retried),
    r.members[0] === undefined ? '-' : r.members.join('/'),
    r.natsPerMessage.toFixed(2),
    String(r.slowConsumers),
    r.receivers.map((s) => mib(s.rssBytes)).join('/'),
    mib(r.publisher.rssBytes),
    [r.cpu.receivers, r.cpu.publisher, r.cpu.server].map((s) => s.toFixed(1)).join('/'),
    [r.system.receivers, r.system.publisher].map((s) => s.toFixed(1)).join('/'),
    [r.offMain.receivers, r.offMain.publisher].map((s) => s.toFixed(1)).join('/'),
    [r.gcPauseMs.receivers, r.gcPauseMs.publisher].map((ms) => ms.toFixed(0)).join('/'),
    [r.allocated.receivers, r.allocated.publisher].map((bytes) => (bytes / Math.max(r.distinct, 1)).toFixed(0)).join('/'),
    [r.syscalls.receivers, r.syscalls.publisher, r.syscalls.server]
      .map(({ reads, writes }) => `${((1000 * reads) / Math.max(r.distinct, 1)).toFixed(1)}+${((1000 * writes) / Math.max(r.distinct, 1)).toFixed(1)}`)
      .join('/'),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
  console.log('');
  const ratios = new Map<string, { rate: number[]; cpu: number[] }>();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const { mode } of MODES) {
      const [raw, ...flows] = results.filter((r) => r.round === round && r.mode.startsWith(mode));
      if (raw === undefined) continue;
      for (const flow of flows) {
        const rateRatio = rate(flow) / rate(raw);
        const cpuRatio = cpuPerMessage(flow) / cpuPerMessage(raw);
        const key = `${flow.name} / raw nats.js, ${mode}`;
        const seen = ratios.get(key) ?? { rate: [], cpu: [] };
        seen.rate.push(rateRatio);
        seen.cpu.push(cpuRatio);
        ratios.set(key, seen);
        console.log(
          `${key}${ROUNDS > 1 ? `, round ${round}` : ''}: msgs/s end to end ${rateRatio.toFixed(3)} (target >= 0.5); ` +
            `NATS messages per message ${flow.natsPerMessage.toFixed(2)} (raw ${raw.natsPerMessage.toFixed(2)}); ` +
            `CPU per message, all processes: ${cpuPerMessage(flow).toFixed(1)} µs / ${cpuPerMessage(raw).toFixed(1)} µs ` +
            `= ${cpuRatio.toFixed(2)} x (target <= 2); JS heap bytes allocated per message, receivers / publisher: ` +
            `${allocatedPerMessage(flow)} (raw ${allocatedPerMessage(raw)}); machine's CPUs busy/idle/stolen ` +
            `${machineShares(flow.machine)} % (raw ${machineShares(raw.machine)} %)`,
        );
      }
    }
  }
  if (ROUNDS > 1) {
    console.log(`\nMedians over ${ROUNDS} rounds (each round's ratio is against its own raw run):`);
    for (const [key, seen] of ratios) {
      const list = (values: number[], digits: number): string => values.map((v) => v.toFixed(digits)).join(', ');
      console.log(
        `${key}: msgs/s ${median(seen.rate).toFixed(3)} (${list(seen.rate, 2)}); ` +
          `CPU per message ${median(seen.cpu).toFixed(2)} x (${list(seen.cpu, 2)})`,
      );
    }
  }
  for (const r of results) {
    const lost = r.published - r.distinct;
    const errors = [...r.receivers, r.publisher].map((s) => s.errors).filter((e) => Object.keys(e).length > 0);
    if (lost > 0 || r.received !== r.distinct || errors.length > 0) {
      console.log(
        `${r.name}, ${r.mode}${ROUNDS > 1 ? `, round ${r.round}` : ''}: ${lost} never received, ${r.received - r.distinct} duplicates, ` +
          `errors ${JSON.stringify(errors)}`,
      );
    }
  }
  console.log(
    `${MESSAGES.toLocaleString('en')} messages of ${BASE_PLAN.payloadBytes} bytes measured after ` +
      `${WARM_UP === 0 ? 'no warm-up (cold processes)' : `a warm-up of ${WARM_UP.toLocaleString('en')} in the same processes`}, flush every ` +
      `${BASE_PLAN.batch.toLocaleString('en')}, ${BASE_PLAN.keys.toLocaleString('en')} partition keys (Flow)` +
      `${BASE_PLAN.awaitEach ? ', each publish awaited' : ''}; node ${process.version}`,
  );
}

/** Bytes per message by allocating site (--alloc-profile), from a sampling heap profile: estimates, unlike the table's exact totals. */
/** The profile a worker wrote into `dir` (its one file ending in `extension`), or undefined after saying none was. */
function profileIn(dir: string, extension: string, what: string): string | undefined {
  const file = existsSync(dir) ? readdirSync(dir).find((name) => name.endsWith(extension)) : undefined;
  if (file === undefined) console.log(`\nno ${what} was written`);
  return file === undefined ? undefined : join(dir, file);
}

function printAllocations(dir: string, label: string, share: number): void {
  const file = profileIn(dir, '.heapprofile', `allocation profile of ${label}`);
  if (file === undefined) return;
  const { sites, totalBytes } = summarizeAllocations(file);
  // Per message it took: a receiver (one of three) about a third of them, the publisher all.
  const messages = MESSAGES * share;
  console.log(`\nAllocations of ${label}, sampled: ${(totalBytes / messages).toFixed(0)} bytes per message it took. Top sites (function < caller):`);
  for (const site of sites.slice(0, 30)) {
    console.log(`  ${(100 * site.share).toFixed(1).padStart(5)} %  ${(site.bytes / messages).toFixed(1).padStart(6)} B/msg  ${site.frame}`);
  }
}

function printProfile(dir: string, label: string): void {
  const file = profileIn(dir, '.cpuprofile', `CPU profile of ${label}`);
  if (file === undefined) return;
  const { functions, files, busyMs } = summarizeProfile(file);
  console.log(`\nCPU profile of ${label}: ${busyMs.toFixed(0)} ms busy. Top self time by function:`);
  const row = (f: SelfTime): string => `  ${(100 * f.share).toFixed(1).padStart(5)} %  ${f.ms.toFixed(0).padStart(5)} ms  ${f.frame}`;
  for (const f of functions.slice(0, 25)) console.log(row(f));
  console.log('By file:');
  for (const f of files.slice(0, 15)) console.log(row(f));
}

async function main(): Promise<void> {
  console.log(useBuiltLibrary());
  await BenchProcess.warmTranspileCache();
  const server = await startNatsServer({ monitor: true });
  const keep = process.env.FLOW_BENCH_PROFILE_DIR;
  const profileRoot = !PROFILE ? undefined : keep !== undefined ? keep : mkdtempSync(join(tmpdir(), 'flow-bench-prof-'));
  try {
    const results: RunResult[] = [];
    const raw = { receiver: 'raw-subscriber', publisher: 'raw-publisher' } as const;
    const flow = { receiver: 'flow-broker', publisher: 'flow-publisher' } as const;
    for (let round = 1; round <= ROUNDS; round++) {
      for (const mode of MODES) {
        const profileDir = (ack: string): string | undefined =>
          profileRoot === undefined || round > 1 ? undefined : join(profileRoot, mode.mode, ack);
        const setups = [
          () => run('(a) raw nats.js, 3 queue subscribers', server, raw, mode, round, profileDir('raw')),
          () => run('(b) Flow core, 3 brokers, keyed, acked', server, flow, mode, round, profileDir('acked')),
          () => run('(c) Flow core, 3 brokers, keyed, fire and forget', server, flow, mode, round, profileDir('fire and forget'), false),
        ];
        // Even rounds run them in reverse order: a machine that speeds up or slows down during a round favours neither side every time.
        const done: RunResult[] = [];
        for (const i of round % 2 === 0 ? [2, 1, 0] : [0, 1, 2]) done[i] = await setups[i]!();
        results.push(...done);
      }
    }
    printResults(results);
    if (SCAVENGES) printScavenges(results);
    if (profileRoot !== undefined) {
      for (const { mode } of MODES) {
        for (const ack of ['raw', 'acked', 'fire and forget']) {
          const [receiver, publisher] = ack === 'raw' ? ['raw-subscriber-1', 'raw-publisher'] : ['flow-broker-1', 'flow-publisher'];
          const print = (what: string, label: string, share: number): void =>
            ALLOCATIONS ? printAllocations(join(profileRoot, mode, ack, what), label, share) : printProfile(join(profileRoot, mode, ack, what), label);
          print('receiver', `${receiver} (${mode}, ${ack})`, 1 / 3);
          print('publisher', `${publisher} (${mode}, ${ack})`, 1);
        }
      }
    }
  } finally {
    await server.stop();
    if (profileRoot !== undefined && keep === undefined) rmSync(profileRoot, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
