/**
 * Flow through Nest against Nest's built-in NATS transport, each in its own
 * processes on one real nats-server, measured in one run.
 *
 *   node -r ./test/support/ts-register.js bench/nest-flow.bench.ts [--events N] [--requests N]
 *     [--sequential N] [--keys N] [--window N] [--runs N] [--growth] [--profile [--keep-profiles]] [--sources]
 *
 * Setups (1 publisher process, 3 consumer processes each):
 *   Nest: microservices on Transport.NATS in queue group `bench`
 *         (@EventPattern, @MessagePattern); the publisher uses a ClientProxy
 *         (emit, send). Events and requests are unkeyed.
 *   Flow: microservices with FlowModule.forRoot({ servers }) and FlowServer
 *         (@StreamHandler, @RequestHandler); the publisher is a FlowModule
 *         app without handlers using FlowClient.publish/request, every
 *         message keyed (KEYS partition keys); the publisher learns the ring
 *         and sends each one direct to its owner (events acknowledged:
 *         emit resolves on the owner's acceptance).
 * Every handler does the same trivial work (BenchTally). Payloads are JSON
 * objects of PAYLOAD_BYTES bytes (a padded string field).
 *
 * Measured per setup, after a warm-up: (a/b) events end to end: first
 * publish until the last handler run, across processes on one clock, the
 * consumers' RSS after the run, and the JS heap bytes allocated per event by
 * the consumers together and by the publisher (bench/support/heap-allocation.ts), and
 * the whole machine's CPUs busy, idle and stolen by the hypervisor (/proc/stat:
 * stolen time is counted by no process), and what each process's old generation
 * gained between collections (garbage there waits for a full collection and
 * shows in RSS); (c) request/reply with 64 in flight: req/s,
 * p50, p99; (d) sequential request/reply p50, p99, each with what the
 * requester's old generation gained between collections. --growth adds (e): the RSS
 * of the Flow apps after 200,000 and after 1,000,000 events. --profile runs
 * the first Flow app, the first Nest consumer and both publishers under `node --cpu-prof` and
 * prints where their time goes (by layer, function and file; FLOW_BENCH_PROFILE_US sets
 * the sampling interval in µs, default 1,000). --keys 0 sends
 * Flow's events and requests unkeyed: a diagnostic that takes forwarding out.
 *
 * Publishers flush every BATCH events and keep at most WINDOW events
 * published but not handled (the parent relays the consumers' counts), so
 * that nothing is dropped as a slow consumer; drops (published but never
 * handled) and the server's slow-consumer count are reported.
 *
 * The Flow workers run the built package, as users install it; --sources runs
 * the TypeScript sources instead (bench/support/built-library.ts).
 *
 * It starts its own nats-server on a free loopback port; the server and every
 * worker are stopped by PID. Printed, never asserted.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULTS } from 'nestjs-flow/core';
import { startNatsServer, type NatsServer } from '../test/harness/nats-server';
import { summarizeProfile } from './support/cpu-profile';
import { groupProfile } from './support/nest/profile-groups';
import { median } from './support/median';
import { useBuiltLibrary } from './support/built-library';
import { machineCpuFrom, machineShares, processCpuSeconds, syscallsFrom, type MachineCpu } from './support/proc-cpu';
import { serverVarz } from './support/server-varz';
import type {
  EventPlan,
  EventReport,
  NestBenchRole,
  RequestPlan,
  RequestReport,
  WorkerStats,
} from './support/nest/bench-ipc';
import { WorkerProcess } from './support/nest/worker-process';

const argument = (name: string, fallback: number, max: number, min = 1): number => {
  const index = process.argv.indexOf(`--${name}`);
  const value = index < 0 ? fallback : Number(process.argv[index + 1]);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`--${name} must be an integer from ${min} to ${max}`);
  return value;
};

const EVENTS = argument('events', 300_000, 5_000_000);
const REQUESTS = argument('requests', 50_000, 2_000_000);
const SEQUENTIAL = argument('sequential', 5_000, 200_000);
/** --runs N: both setups N times in turn (Flow first in even runs), on one server, each run's table, then the median of each target's ratio. */
const RUNS = argument('runs', 1, 10);
const GROWTH = process.argv.includes('--growth');
const PROFILE = process.argv.includes('--profile');
/** --keep-profiles: the .cpuprofile files stay on disk (their directory is printed) for a closer look (DevTools, call trees). */
const KEEP_PROFILES = process.argv.includes('--keep-profiles');
const GROWTH_FIRST = 200_000;
const GROWTH_TOTAL = 1_000_000;
const WARMUP_EVENTS = 30_000;
const WARMUP_REQUESTS = 3_000;
const PAYLOAD_BYTES = 256;
const BATCH = 1_000;
/** Events a publisher may have published but not yet seen handled (a backlog beyond what the apps drain within ackTimeout makes forwards time out). */
const WINDOW = argument('window', 5_000, 1_000_000);
/** Distinct partition keys of Flow's events and requests; 0 sends them unkeyed (a diagnostic: no forwarding). */
const KEYS = argument('keys', 10_000, 1_000_000, 0);
const IN_FLIGHT = 64;
/** A wait for handled events gives up when the count has not moved for this long. */
const STALL_MS = 10_000;
const MIB = 1024 * 1024;

interface Setup {
  readonly name: 'Nest NATS' | 'Flow';
  readonly consumer: NestBenchRole;
  readonly publisher: NestBenchRole;
}

const NEST: Setup = { name: 'Nest NATS', consumer: 'nest-consumer', publisher: 'nest-publisher' };
const FLOW: Setup = { name: 'Flow', consumer: 'flow-app', publisher: 'flow-publisher' };

interface EventResult {
  readonly published: number;
  readonly handled: number;
  readonly distinct: number;
  readonly elapsedMs: number;
  readonly slowConsumers: number;
  /** Messages the server took in and sent out during the run (/varz in_msgs, out_msgs). */
  readonly natsMessages: { in: number; out: number };
  readonly consumers: WorkerStats[];
  readonly publisherErrors: Record<string, number>;
  /** CPU seconds during the run: consumers together, publisher, nats-server. */
  readonly cpu: { consumers: number; publisher: number; server: number };
  /** Read + write system calls during the run (/proc/<pid>/io; the bench's IPC included): consumers together, publisher, nats-server. */
  readonly syscalls: { consumers: number; publisher: number; server: number };
  /** Bytes allocated on the JS heap during the run: consumers together, publisher. */
  readonly allocated: { consumers: number; publisher: number };
  /** Bytes each consumer's old generation gained between collections during the run, then the publisher's (HeapAllocation.oldGenerationDirect). */
  readonly oldDirect: number[];
  /** The whole machine's CPUs during the run: busy, idle, stolen. */
  readonly machine: MachineCpu;
}

interface SetupResult {
  readonly setup: Setup;
  readonly events: EventResult;
  readonly concurrent: RequestReport;
  readonly sequential: RequestReport;
}

interface Fleet {
  readonly consumers: WorkerProcess[];
  readonly publisher: WorkerProcess;
  /** Events published so far (warm-up included); the consumers' counts include them. */
  sent: number;
}

async function startFleet(
  setup: Setup,
  server: NatsServer,
  maxEvents: number,
  spawned: WorkerProcess[],
  consumerFlags: { first?: string[]; all?: string[] } = {},
  publisherFlags: string[] = [],
): Promise<Fleet> {
  const launch = async (label: string, role: NestBenchRole, flags: string[] = []): Promise<WorkerProcess> => {
    const worker = await WorkerProcess.spawn(label, flags);
    spawned.push(worker);
    await worker.call({ type: 'start', config: { role, servers: server.url, name: label, maxEvents } });
    return worker;
  };
  const consumers: WorkerProcess[] = [];
  for (const i of [1, 2, 3]) {
    const flags = [...(consumerFlags.all ?? []), ...(i === 1 ? (consumerFlags.first ?? []) : [])];
    consumers.push(await launch(`${setup.consumer}-${i}`, setup.consumer, flags));
  }
  const publisher = await launch(setup.publisher, setup.publisher, publisherFlags);
  if (setup === FLOW) await awaitRing(consumers);
  const relay = (): void => publisher.credit(consumers.reduce((sum, c) => sum + c.events, 0));
  for (const consumer of consumers) consumer.onProgress = relay;
  return { consumers, publisher, sent: 0 };
}

/** Polls the Flow apps until each knows every ring position (bounded). */
async function awaitRing(apps: readonly WorkerProcess[]): Promise<void> {
  const expected = apps.length * DEFAULTS.virtualNodes;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const members = (await Promise.all(apps.map((app) => app.call<WorkerStats>({ type: 'stats' })))).map((s) => s.members);
    if (members.every((m) => m === expected)) return;
    if (Date.now() > deadline) throw new Error(`ring did not converge to ${expected} positions: ${members.join('/')}`);
    await delay(50);
  }
}

/** Resolves once the consumers have handled `total` events, or their count has not moved for STALL_MS. */
async function awaitHandled(consumers: readonly WorkerProcess[], total: number): Promise<void> {
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const sum = consumers.reduce((n, c) => n + c.events, 0);
    if (sum >= total) return;
    if (sum !== last) {
      last = sum;
      lastChange = Date.now();
    }
    if (Date.now() - lastChange > STALL_MS) return;
    await delay(10);
  }
}

async function publish(fleet: Fleet, count: number): Promise<EventReport> {
  const plan: EventPlan = { first: fleet.sent, count, payloadBytes: PAYLOAD_BYTES, batch: BATCH, window: WINDOW, keys: KEYS };
  const report = await fleet.publisher.call<EventReport>({ type: 'publish', plan }, 600_000);
  fleet.sent += report.published;
  await awaitHandled(fleet.consumers, fleet.sent);
  return report;
}

async function measureEvents(fleet: Fleet, server: NatsServer, count: number): Promise<EventResult> {
  const first = fleet.sent;
  const workers = [...fleet.consumers, fleet.publisher];
  const before = await Promise.all(workers.map((w) => w.call<WorkerStats>({ type: 'stats' })));
  const serverCpuBefore = processCpuSeconds(server.pid);
  const syscallsSince = syscallsFrom([...workers, server].map((p) => p.pid));
  const varzBefore = await serverVarz(server);
  const machineSince = machineCpuFrom();
  const report = await publish(fleet, count);
  const machine = machineSince();
  const after = await Promise.all(workers.map((w) => w.call<WorkerStats>({ type: 'stats' })));
  const syscallsDuring = syscallsSince().map(({ reads, writes }) => reads + writes);
  const seen = await Promise.all(fleet.consumers.map((c) => c.call<Uint8Array>({ type: 'seen' })));
  let distinct = 0;
  for (let seq = first; seq < first + report.published; seq++) if (seen.some((bitmap) => bitmap[seq] !== 0)) distinct++;
  const consumers = after.slice(0, fleet.consumers.length);
  const cpu = (i: number): number => (after[i]!.cpuUs - before[i]!.cpuUs) / 1e6;
  const allocated = (i: number): number => after[i]!.allocatedBytes - before[i]!.allocatedBytes;
  return {
    published: report.published,
    handled: consumers.reduce((n, s, i) => n + s.events - before[i]!.events, 0),
    distinct,
    elapsedMs: Math.max(...consumers.map((s) => s.lastEventAt)) - report.firstAt,
    ...(await serverVarz(server).then((after) => ({
      slowConsumers: after.slowConsumers - varzBefore.slowConsumers,
      natsMessages: { in: after.inMsgs - varzBefore.inMsgs, out: after.outMsgs - varzBefore.outMsgs },
    }))),
    consumers,
    publisherErrors: { ...report.errors, ...after[after.length - 1]!.errors },
    cpu: {
      consumers: consumers.reduce((n, _s, i) => n + cpu(i), 0),
      publisher: cpu(workers.length - 1),
      server: processCpuSeconds(server.pid) - serverCpuBefore,
    },
    syscalls: {
      consumers: syscallsDuring.slice(0, fleet.consumers.length).reduce((a, b) => a + b, 0),
      publisher: syscallsDuring[workers.length - 1]!,
      server: syscallsDuring[workers.length]!,
    },
    allocated: {
      consumers: consumers.reduce((n, _s, i) => n + allocated(i), 0),
      publisher: allocated(workers.length - 1),
    },
    oldDirect: after.map((s, i) => s.oldDirectBytes - before[i]!.oldDirectBytes),
    machine,
  };
}

function requests(fleet: Fleet, count: number, concurrency: number): Promise<RequestReport> {
  const plan: RequestPlan = { count, concurrency, payloadBytes: PAYLOAD_BYTES, keys: KEYS };
  return fleet.publisher.call<RequestReport>({ type: 'request', plan }, 600_000);
}

async function runSetup(setup: Setup, server: NatsServer, spawned: WorkerProcess[], profileDir?: string): Promise<SetupResult> {
  try {
    const profile = (dir: string): string[] => (profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-interval', process.env.FLOW_BENCH_PROFILE_US ?? '1000', '--cpu-prof-dir', join(profileDir, dir)]);
    const fleet = await startFleet(setup, server, WARMUP_EVENTS + EVENTS, spawned, { first: profile('consumer') }, profile('publisher'));
    await publish(fleet, WARMUP_EVENTS);
    await requests(fleet, WARMUP_REQUESTS, IN_FLIGHT);
    const events = await measureEvents(fleet, server, EVENTS);
    const concurrent = await requests(fleet, REQUESTS, IN_FLIGHT);
    const sequential = await requests(fleet, SEQUENTIAL, 1);
    return { setup, events, concurrent, sequential };
  } finally {
    await Promise.all(spawned.splice(0).map((w) => w.exit()));
  }
}

interface MemoryPoint {
  readonly rss: number[];
  /** Heap used after a full garbage collection: what the apps retain. */
  readonly retained: number[];
}

interface GrowthResult {
  readonly first: MemoryPoint;
  readonly total: MemoryPoint;
  readonly drops: number;
  readonly ms: number;
}

/** (e): memory of the Flow apps after GROWTH_FIRST and after GROWTH_TOTAL events. */
async function runGrowth(server: NatsServer, spawned: WorkerProcess[]): Promise<GrowthResult> {
  try {
    const fleet = await startFleet(FLOW, server, GROWTH_TOTAL, spawned, { all: ['--expose-gc'] });
    const started = Date.now();
    const memory = async (): Promise<MemoryPoint> => {
      const plain = await Promise.all(fleet.consumers.map((c) => c.call<WorkerStats>({ type: 'stats' })));
      const collected = await Promise.all(fleet.consumers.map((c) => c.call<WorkerStats>({ type: 'stats', gc: true })));
      return { rss: plain.map((s) => s.rssBytes), retained: collected.map((s) => s.heapUsedBytes) };
    };
    await publish(fleet, GROWTH_FIRST);
    const first = await memory();
    await publish(fleet, GROWTH_TOTAL - GROWTH_FIRST);
    const total = await memory();
    const handled = fleet.consumers.reduce((n, c) => n + c.events, 0);
    return { first, total, drops: fleet.sent - handled, ms: Date.now() - started };
  } finally {
    await Promise.all(spawned.splice(0).map((w) => w.exit()));
  }
}

function printGrowth(growth: GrowthResult): void {
  const change = (before: number[], after: number[]): string[] =>
    before.map((b, i) => `${((100 * (after[i]! - b)) / b).toFixed(1)} %`);
  const worst = (before: number[], after: number[]): number =>
    Math.max(...before.map((b, i) => (100 * (after[i]! - b)) / b));
  console.log(
    `\n(e) Flow apps after ${int(GROWTH_FIRST)} and after ${int(GROWTH_TOTAL)} events (${int(growth.ms)} ms, dropped ${growth.drops}):\n` +
      `    RSS ${growth.first.rss.map(mib).join('/')} -> ${growth.total.rss.map(mib).join('/')} MiB, ` +
      `change ${change(growth.first.rss, growth.total.rss).join('/')}; largest change ` +
      `${worst(growth.first.rss, growth.total.rss).toFixed(1)} % (target within 10 %)\n` +
      `    heap used after a full GC ${growth.first.retained.map(mib).join('/')} -> ${growth.total.retained.map(mib).join('/')} MiB, ` +
      `change ${change(growth.first.retained, growth.total.retained).join('/')}`,
  );
}



/**
 * Starts and stops one worker before any setup: after a source change the
 * first worker transpiles every module (ts-register's cache) and keeps the
 * TypeScript compiler in memory, which would inflate the RSS and CPU of
 * whichever consumer came first (the first Nest one).
 */
async function warmTranspileCache(spawned: WorkerProcess[]): Promise<void> {
  const worker = await WorkerProcess.spawn('warm-up');
  spawned.push(worker);
  await worker.exit();
  spawned.splice(spawned.indexOf(worker), 1);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const int = (value: number): string => (Number.isFinite(value) ? Math.round(value).toLocaleString('en') : '-');
const mib = (bytes: number): string => (bytes / MIB).toFixed(1);

function rate(events: EventResult): number {
  return (events.distinct / events.elapsedMs) * 1000;
}

function reqRate(report: RequestReport): number {
  return (report.completed / report.elapsedMs) * 1000;
}

/** Bytes allocated on the JS heap per distinct event handled, by the consumers together or the publisher. */
function allocatedPerEvent({ events: e }: SetupResult, by: 'consumers' | 'publisher'): number {
  return e.allocated[by] / Math.max(e.distinct, 1);
}

type Row = [figure: string, nest: number, flow: number, format: (n: number) => string, target: string, better: 'higher' | 'lower' | ''];

/** The table's rows: each figure for both setups of one run, with its target (issue 11, Flow / Nest NATS). */
function rowsOf(nest: SetupResult, flow: SetupResult): Row[] {
  const maxRss = (r: SetupResult): number => Math.max(...r.events.consumers.map((s) => s.rssBytes));
  const cpuPerEvent = ({ events: e }: SetupResult): number =>
    (1e6 * (e.cpu.consumers + e.cpu.publisher + e.cpu.server)) / Math.max(e.distinct, 1);
  return [
    ['(a/b) events, msgs/s end to end', rate(nest.events), rate(flow.events), int, '>= 1.5', 'higher'],
    ['      CPU µs per event, all 5 processes', cpuPerEvent(nest), cpuPerEvent(flow), (n) => n.toFixed(1), '', ''],
    ['      JS heap bytes per event, consumers', allocatedPerEvent(nest, 'consumers'), allocatedPerEvent(flow, 'consumers'), int, '', ''],
    ['      JS heap bytes per event, publisher', allocatedPerEvent(nest, 'publisher'), allocatedPerEvent(flow, 'publisher'), int, '', ''],
    ['      consumer RSS at end, MiB (max of 3)', maxRss(nest), maxRss(flow), mib, '<= 1.0', 'lower'],
    ['(c) requests, 64 in flight, req/s', reqRate(nest.concurrent), reqRate(flow.concurrent), int, '>= 1.5', 'higher'],
    ['    p50 latency, µs', nest.concurrent.p50Us, flow.concurrent.p50Us, int, '', ''],
    ['    p99 latency, µs', nest.concurrent.p99Us, flow.concurrent.p99Us, int, '<= 1.2', 'lower'],
    ['(d) sequential requests, p50 µs', nest.sequential.p50Us, flow.sequential.p50Us, int, '<= 1.1', 'lower'],
    ['    p99 µs', nest.sequential.p99Us, flow.sequential.p99Us, int, '<= 1.2', 'lower'],
    ['    req/s', reqRate(nest.sequential), reqRate(flow.sequential), int, '', ''],
  ];
}

function printTable(nest: SetupResult, flow: SetupResult): void {
  const rows = rowsOf(nest, flow);
  const header = ['figure', 'Nest NATS', 'Flow', 'Flow/Nest', 'target', ''];
  const cells = rows.map(([figure, n, f, format, target, better]) => {
    const ratio = f / n;
    const limit = Number(target.slice(3));
    const met = better === '' ? '' : (better === 'higher' ? ratio >= limit : ratio <= limit) ? 'met' : 'MISSED';
    return [figure, format(n), format(f), `${ratio.toFixed(2)} x`, target, met];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]!.length)));
  const line = (row: string[]): string => row.map((c, i) => (i === 0 || i >= 4 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of cells) console.log(line(row));
  console.log('');
  for (const r of [nest, flow]) {
    const e = r.events;
    const counters = e.consumers.map((s) => s.counters).filter((c) => c !== undefined);
    const forwarded = counters.reduce((n, c) => n + (c!['forwarded'] ?? 0), 0);
    const received = counters.reduce((n, c) => n + (c!['received'] ?? 0), 0);
    const consumerErrors = e.consumers.map((s) => s.errors).filter((x) => Object.keys(x).length > 0);
    console.log(
      `${r.setup.name}: ${int(e.published)} events in ${int(e.elapsedMs)} ms; handled ${int(e.handled)}, ` +
        `distinct ${int(e.distinct)}, dropped ${int(e.published - e.distinct)}, slow consumers ${e.slowConsumers}` +
        `, NATS messages in/out per 1,000 events ${[e.natsMessages.in, e.natsMessages.out].map((n) => ((1000 * n) / Math.max(e.distinct, 1)).toFixed(1)).join('/')}` +
        (counters.length > 0 ? `, forwarded ${((100 * forwarded) / Math.max(received, 1)).toFixed(1)} % (whole life)` : '') +
        `; RSS ${e.consumers.map((s) => mib(s.rssBytes)).join('/')} MiB (heap used/total ${e.consumers.map((s) => `${mib(s.heapUsedBytes)}/${mib(s.heapTotalBytes)}`).join(', ')}; external ${e.consumers.map((s) => mib(s.externalBytes)).join('/')}); CPU s consumers/publisher/server ` +
        `${[e.cpu.consumers, e.cpu.publisher, e.cpu.server].map((s) => s.toFixed(1)).join('/')}` +
        ` (${((1e6 * (e.cpu.consumers + e.cpu.publisher + e.cpu.server)) / Math.max(e.distinct, 1)).toFixed(1)} µs/event)` +
        `; system calls per 1,000 events consumers/publisher/server ` +
        `${[e.syscalls.consumers, e.syscalls.publisher, e.syscalls.server].map((n) => ((1000 * n) / Math.max(e.distinct, 1)).toFixed(1)).join('/')}` +
        `; machine's CPUs busy/idle/stolen ${machineShares(e.machine)} %` +
        `; old generation gained between collections, consumers/publisher ${e.oldDirect.map(mib).join('/')} MiB`,
    );
    for (const [what, report] of [['64 in flight', r.concurrent], ['sequential', r.sequential]] as const) {
      console.log(
        `  requests ${what}: ${int(report.completed)} in ${int(report.elapsedMs)} ms, failed ${report.failed}, max ${int(report.maxUs)} µs` +
          `, requester's old generation gained ${mib(report.oldDirectBytes)} MiB between collections` +
          (Object.keys(report.errors).length > 0 ? `, errors ${JSON.stringify(report.errors)}` : ''),
      );
    }
    if (counters.length > 0) {
      const sum = (field: string): number => counters.reduce((n, c) => n + (c![field] ?? 0), 0);
      console.log(
        `  broker counters (whole life): received ${int(sum('received'))}, forwarded ${int(sum('forwarded'))}, ` +
          `handled ${int(sum('handled'))}, retried ${int(sum('retried'))}, timed out ${int(sum('timedOut'))}, ` +
          `dropped ${int(sum('dropped'))}; ring positions known ${e.consumers.map((s) => s.members).join('/')}`,
      );
    }
    if (consumerErrors.length > 0 || Object.keys(e.publisherErrors).length > 0) {
      console.log(`  errors: consumers ${JSON.stringify(consumerErrors)}, publisher ${JSON.stringify(e.publisherErrors)}`);
    }
  }
  console.log(
    `${int(EVENTS)} events and ${int(REQUESTS)} + ${int(SEQUENTIAL)} requests of ${PAYLOAD_BYTES}-byte JSON per setup ` +
      `(after ${int(WARMUP_EVENTS)} + ${int(WARMUP_REQUESTS)} warm-up), flush every ${int(BATCH)}, window ${int(WINDOW)}, ` +
      `${int(KEYS)} partition keys (Flow); node ${process.version}`,
  );
}

/** Per figure with a target: each run's Flow / Nest ratio (against the Nest run of the same run) and their median. */
function printMedians(runs: readonly Row[][]): void {
  console.log(`\nMedians over ${runs.length} runs (each run's ratio is against its own Nest NATS run):`);
  runs[0]!.forEach(([figure, , , , target], i) => {
    if (target === '') return;
    const ratios = runs.map((rows) => rows[i]![2] / rows[i]![1]);
    console.log(`  ${figure.trim()}: ${median(ratios).toFixed(2)} x (${ratios.map((r) => r.toFixed(2)).join(', ')}), target ${target}`);
  });
}

function printProfile(dir: string, label: string): void {
  const file = existsSync(dir) ? readdirSync(dir).find((name) => name.endsWith('.cpuprofile')) : undefined;
  if (file === undefined) {
    console.log(`\nno CPU profile of ${label} was written`);
    return;
  }
  const { functions, files, busyMs } = summarizeProfile(join(dir, file));
  const percent = (share: number): string => `${(100 * share).toFixed(1).padStart(5)} %`;
  console.log(`\nCPU profile of ${label} (whole life): ${busyMs.toFixed(0)} ms busy. By layer:`);
  for (const g of groupProfile(files)) console.log(`  ${percent(g.share)}  ${g.group}`);
  console.log('Top self time by function:');
  for (const f of functions.slice(0, 30)) console.log(`  ${percent(f.share)}  ${f.frame}`);
  console.log('By file:');
  for (const f of files.slice(0, 20)) console.log(`  ${percent(f.share)}  ${f.frame}`);
}

async function main(): Promise<void> {
  console.log(useBuiltLibrary());
  const server = await startNatsServer({ monitor: true });
  const profileDir = PROFILE ? mkdtempSync(join(tmpdir(), 'nest-flow-prof-')) : undefined;
  /** The workers alive now: on SIGINT or SIGTERM they and the server are killed by PID before exiting. */
  const spawned: WorkerProcess[] = [];
  const interrupted = (signal: NodeJS.Signals): void => {
    for (const worker of spawned) worker.kill();
    void server.stop().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    console.log(`nats-server pid ${server.pid} at ${server.url}`);
    await warmTranspileCache(spawned);
    const runs: Row[][] = [];
    for (let run = 1; run <= RUNS; run++) {
      if (RUNS > 1) console.log(`\nrun ${run} of ${RUNS}`);
      // Only the first run is profiled. Even runs measure Flow first: a machine that speeds up or
      // slows down during a run favours neither side every time.
      const measure = (setup: Setup): Promise<SetupResult> =>
        runSetup(setup, server, spawned, run === 1 ? profileDir && join(profileDir, setup === NEST ? 'nest' : 'flow') : undefined);
      const flowFirst = run % 2 === 0;
      const first = await measure(flowFirst ? FLOW : NEST);
      const second = await measure(flowFirst ? NEST : FLOW);
      const [nest, flow] = flowFirst ? [second, first] : [first, second];
      printTable(nest, flow);
      runs.push(rowsOf(nest, flow));
    }
    if (RUNS > 1) printMedians(runs);
    if (GROWTH) printGrowth(await runGrowth(server, spawned));
    if (profileDir !== undefined) {
      printProfile(join(profileDir, 'flow', 'consumer'), 'flow-app-1');
      printProfile(join(profileDir, 'nest', 'consumer'), 'nest-consumer-1');
      printProfile(join(profileDir, 'flow', 'publisher'), 'flow-publisher');
      printProfile(join(profileDir, 'nest', 'publisher'), 'nest-publisher');
    }
  } finally {
    await server.stop();
    if (profileDir !== undefined && !KEEP_PROFILES) rmSync(profileDir, { recursive: true, force: true });
    if (profileDir !== undefined && KEEP_PROFILES) console.log(`CPU profiles kept in ${profileDir}`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
