/**
 * What it costs a clique to form: N brokers with the default 256 virtual
 * nodes start one after another on the in-memory transport, in one process,
 * until every ring holds every position; the CPU that took (process.cpuUsage,
 * all brokers together) and the wall time. (Started all at once, most JOINs
 * reach brokers that have not joined yet and go unanswered, which measures
 * the start order rather than the answers.) Peer, in the same run: the same N
 * brokers with one ring position each, as Go flow runs (one JOIN per broker,
 * one position in each answer), so the ratio is what virtual nodes cost.
 * Per broker, and per broker against 3 brokers, to show how it grows with N:
 * every broker sends a JOIN per position, and every member answers each.
 *
 *   node -r ./test/support/ts-register.js bench/startup.bench.ts [--sizes 3,6,10,16] [--rounds N]
 *
 * Stabilization is off (interval 0): only the JOIN exchange runs. Each size
 * runs `rounds` times (default 3) and prints the medians. Printed, never
 * asserted.
 */
import { Broker } from 'nestjs-flow/core';
import { MemoryBus } from 'nestjs-flow';
import { median } from './support/median';

const flag = (name: string): string | undefined => {
  const at = process.argv.indexOf(`--${name}`);
  return at < 0 ? undefined : process.argv[at + 1];
};
const SIZES = (flag('sizes') ?? '3,6,10,16').split(',').map(Number);
const ROUNDS = Number(flag('rounds') ?? 3);
if (SIZES.some((n) => !Number.isInteger(n) || n < 1 || n > 32) || !Number.isInteger(ROUNDS) || ROUNDS < 1 || ROUNDS > 20) {
  throw new Error('--sizes takes integers from 1 to 32, --rounds an integer from 1 to 20');
}
/** Bus drains to wait for full rings after start() resolved, at most. */
const MAX_DRAINS = 1_000;

interface Start {
  cpuMs: number;
  wallMs: number;
}

async function start(brokers: number, virtualNodes: number): Promise<Start> {
  const bus = new MemoryBus();
  const options = { virtualNodes, stabilization: { interval: 0 } };
  const cpu = process.cpuUsage();
  const began = performance.now();
  const clique = Array.from({ length: brokers }, (_, i) => new Broker(bus.connect(`b${i}`), { ...options, nodeName: `node-${i}` }));
  // One after another, as a service scales out or rolls: each joiner's JOINs meet every member started before it.
  for (const broker of clique) {
    await broker.handle('orders', () => undefined);
    await broker.start();
    await bus.idle();
  }
  const whole = brokers * virtualNodes;
  for (let drains = 0; drains < MAX_DRAINS && !clique.every((broker) => broker.snapshot().members.length === whole); drains++) await bus.idle();
  const used = process.cpuUsage(cpu);
  const wallMs = performance.now() - began;
  const sizes = clique.map((broker) => broker.snapshot().members.length);
  await Promise.all(clique.map((broker) => broker.close()));
  if (sizes.some((size) => size !== whole)) throw new Error(`rings did not fill: ${sizes.join(', ')} of ${whole} positions`);
  return { cpuMs: (used.user + used.system) / 1000, wallMs };
}

async function main(): Promise<void> {
  // Warm-up: the first clique also pays for compiling the code.
  await start(3, 256);
  const rows: string[][] = [];
  let perBrokerAt3: number | undefined;
  for (const n of SIZES) {
    const flow: Start[] = [];
    const single: Start[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      flow.push(await start(n, 256));
      single.push(await start(n, 1));
    }
    const cpu = median(flow.map((s) => s.cpuMs));
    const peer = median(single.map((s) => s.cpuMs));
    const perBroker = cpu / n;
    if (n === 3) perBrokerAt3 = perBroker;
    rows.push([
      String(n),
      cpu.toFixed(0),
      median(flow.map((s) => s.wallMs)).toFixed(0),
      perBroker.toFixed(1),
      perBrokerAt3 === undefined ? '-' : `${(perBroker / perBrokerAt3).toFixed(2)} x`,
      peer.toFixed(1),
      `${(cpu / peer).toFixed(1)} x`,
    ]);
  }
  const header = ['brokers', 'CPU ms', 'wall ms', 'CPU ms per broker', 'per broker / 3 brokers', 'peer CPU ms (1 position each)', 'CPU / peer'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string => cells.map((cell, i) => cell.padStart(widths[i]!)).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
  console.log(`\n256 virtual nodes per broker, stabilization off, medians of ${ROUNDS} rounds; in-memory transport, one process; node ${process.version}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
