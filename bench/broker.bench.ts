/**
 * Flow core on the in-memory transport against the bare bus it runs on.
 *
 * Flow: 3 brokers (default virtual nodes) and a publisher-only broker; every
 * message is keyed, so about 2/3 are forwarded to their owner. Peer baseline:
 * the same messages through the bare MemoryBus to 3 queue subscribers, the
 * in-process counterpart of "raw nats.js, 3 consumers in one queue group".
 * Both publish 256-byte payloads in windows of WINDOW messages and wait for
 * the bus to drain between windows (a publisher with flow control: without
 * it every ACK would queue behind the whole run and time out).
 *
 * Figures: messages/s end to end (first publish until the last handler ran),
 * CPU µs per message (process.cpuUsage, user + system, whole process), bytes
 * allocated on the JS heap per message, the forwarded fraction, and Flow /
 * baseline (allocation: bench/support/heap-allocation.ts). Printed, never asserted.
 *
 * Run: node -r ./test/support/ts-register.js bench/broker.bench.ts [messages] [window]
 */
import { Broker } from 'nestjs-flow/core';
import { MemoryBus } from 'nestjs-flow';
import { seededRandom } from 'nestjs-flow/testing';
import { HeapAllocation } from './support/heap-allocation';

const MESSAGES = Math.min(Number(process.argv[2] ?? 200_000), 2_000_000);
const WARMUP = 20_000;
const WINDOW = Math.min(Number(process.argv[3] ?? 2_000), 50_000);
const KEYS = 10_000;
const PAYLOAD = 256;
const ROUNDS = 3;
/** A run that takes longer than this is cut short and reported as such. */
const MAX_RUN_MS = 60_000;

interface Result {
  name: string;
  messages: number;
  handled: number;
  ms: number;
  cpuUs: number;
  allocatedBytes: number;
  forwarded: number;
  retried: number;
}

const payload = seededRandom(1).bytes(PAYLOAD);
const keys = Array.from({ length: KEYS }, (_, i) => `customer-${i}`);

interface Paced {
  published: number;
  ms: number;
  cpuUs: number;
  allocatedBytes: number;
}

/**
 * Publishes `messages` in windows of WINDOW, letting the bus drain after each
 * (bounded by MAX_RUN_MS), and measures wall time and process CPU.
 */
async function paced(bus: MemoryBus, messages: number, publishOne: (n: number) => void): Promise<Paced> {
  const allocation = new HeapAllocation();
  const allocatedBefore = allocation.read();
  const cpu = process.cpuUsage();
  const started = performance.now();
  let published = 0;
  while (published < messages && performance.now() - started < MAX_RUN_MS) {
    const end = Math.min(messages, published + WINDOW);
    for (; published < end; published++) publishOne(published);
    await bus.idle();
  }
  const used = process.cpuUsage(cpu);
  const allocatedBytes = allocation.read() - allocatedBefore;
  return { published, ms: performance.now() - started, cpuUs: used.user + used.system, allocatedBytes };
}

async function flowRun(messages: number): Promise<Result> {
  const bus = new MemoryBus();
  let handled = 0;
  const options = { stabilization: { interval: 0 } };
  const brokers = [1, 2, 3].map((i) => new Broker(bus.connect(`broker-${i}`), { ...options, nodeName: `node-${i}` }));
  for (const broker of brokers) {
    await broker.handle('orders', () => {
      handled++;
    });
    await broker.start();
  }
  const publisher = new Broker(bus.connect('publisher'), options);
  await publisher.start();
  await bus.idle();

  // Publishes are not awaited one by one (the pacing drains the bus instead); every promise is settled before
  // the brokers close, and a rejection would be counted, not left unhandled.
  const settling: Promise<void>[] = [];
  let rejected = 0;
  const run = await paced(bus, messages, (n) => {
    settling.push(publisher.publish('orders', payload, { key: keys[n % KEYS] }).catch(() => void rejected++));
  });
  await Promise.all(settling);
  await bus.idle();
  if (rejected > 0) console.log(`flow run: ${rejected} publishes rejected`);
  const counters = brokers.map((b) => b.counters);
  await Promise.all([...brokers, publisher].map((b) => b.close()));
  return {
    name: 'flow, 3 brokers, keyed',
    messages: run.published,
    handled,
    ms: run.ms,
    cpuUs: run.cpuUs,
    allocatedBytes: run.allocatedBytes,
    forwarded: counters.reduce((n, c) => n + c.forwarded, 0),
    retried: counters.reduce((n, c) => n + c.retried, 0),
  };
}

async function busRun(messages: number): Promise<Result> {
  const bus = new MemoryBus();
  let handled = 0;
  for (let i = 0; i < 3; i++) {
    bus.connect(`consumer-${i}`).subscribe('orders', { queue: 'workers' }, () => {
      handled++;
    });
  }
  const publisher = bus.connect('publisher');
  await bus.idle();

  // publish takes ownership of its bytes: one copy per message, as a real publisher would encode one.
  const run = await paced(bus, messages, () => publisher.publish('orders', payload.slice()));
  return {
    name: 'bare MemoryBus, 3 queue subscribers',
    messages: run.published,
    handled,
    ms: run.ms,
    cpuUs: run.cpuUs,
    allocatedBytes: run.allocatedBytes,
    forwarded: 0,
    retried: 0,
  };
}

function median(results: Result[]): Result {
  return [...results].sort((a, b) => a.ms / a.messages - b.ms / b.messages)[Math.floor(results.length / 2)];
}

async function main(): Promise<void> {
  await flowRun(WARMUP);
  await busRun(WARMUP);
  const flow: Result[] = [];
  const bus: Result[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    flow.push(await flowRun(MESSAGES));
    bus.push(await busRun(MESSAGES));
  }
  const f = median(flow);
  const b = median(bus);
  const rate = (r: Result): number => (r.handled / r.ms) * 1000;
  const rows = [f, b].map((r) => [
    r.name,
    r.messages.toLocaleString('en'),
    r.handled.toLocaleString('en'),
    Math.round(rate(r)).toLocaleString('en'),
    (r.cpuUs / r.messages).toFixed(2),
    Math.round(r.allocatedBytes / r.messages).toLocaleString('en'),
    r.messages === 0 ? '-' : (r.forwarded / r.messages).toFixed(3),
    String(r.retried),
  ]);
  printTable(['run (median of 3)', 'published', 'handled', 'msgs/s', 'CPU µs/msg', 'bytes/msg', 'forwarded', 'retried'], rows);
  console.log(`\nflow / bare bus throughput: ${(rate(f) / rate(b)).toFixed(3)}`);
  console.log(`flow / bare bus CPU per message: ${(f.cpuUs / f.messages / (b.cpuUs / b.messages)).toFixed(2)} x`);
  console.log(`flow / bare bus bytes allocated per message: ${(f.allocatedBytes / f.messages / (b.allocatedBytes / b.messages)).toFixed(2)} x`);
  console.log(`${PAYLOAD}-byte payloads, ${KEYS.toLocaleString('en')} keys, windows of ${WINDOW.toLocaleString('en')}`);
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
