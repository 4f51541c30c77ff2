/**
 * Ownership balance of the ring: the largest share of any broker divided by
 * the mean share (1.00 is perfect), over 100,000 random partition keys, for
 * 2, 3, 5 and 10 brokers and several virtual-node counts. Node keys are the
 * named brokers node-1..N (as users name them) and 50 seeded random draws,
 * summarised as mean and percentiles. DESIGN.md's target: 3 brokers at the
 * default virtual nodes, largest share <= 1.10 x the mean.
 *
 * Run: node -r ./test/support/ts-register.js bench/balance.bench.ts
 */
import { Key, keyFromBytes, keyFromString } from 'nestjs-flow/core';
import { DEFAULTS } from 'nestjs-flow/core';
import { ringPositions } from '../libs/flow/src/core/virtual-nodes';
import { seededRandom } from 'nestjs-flow/testing';

const PARTITION_KEYS = 100_000;
const DRAWS = 50;
const BROKER_COUNTS = [2, 3, 5, 10];
const VIRTUAL_NODE_COUNTS = [...new Set([1, 16, 64, 128, DEFAULTS.virtualNodes, 256, 512])].sort((a, b) => a - b);

const compare = (a: Key, b: Key): number => a.compare(b);

/** Random partition hashes, sorted once so every ring is measured by one merge walk. */
function sortedPartitions(): Key[] {
  const random = seededRandom(2024);
  const keys: Key[] = [];
  for (let i = 0; i < PARTITION_KEYS; i++) keys.push(keyFromBytes(random.bytes(16)));
  return keys.sort(compare);
}

/** max share / mean share of `nodeKeys` with `virtualNodes` positions each. */
function maxOverMean(partitions: readonly Key[], nodeKeys: readonly Key[], virtualNodes: number): number {
  const ring = nodeKeys
    .flatMap((nodeKey, owner) => ringPositions(nodeKey, virtualNodes).map((position) => ({ position, owner })))
    .sort((a, b) => compare(a.position, b.position));
  const counts = new Array<number>(nodeKeys.length).fill(0);
  // A partition belongs to the first position >= it, wrapping to the smallest.
  let j = 0;
  for (const partition of partitions) {
    while (j < ring.length && compare(ring[j].position, partition) < 0) j++;
    counts[ring[j === ring.length ? 0 : j].owner]++;
  }
  return Math.max(...counts) / (partitions.length / nodeKeys.length);
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function main(): void {
  const started = Date.now();
  const partitions = sortedPartitions();
  const draws = seededRandom(7);
  const rows: string[][] = [];
  for (const brokers of BROKER_COUNTS) {
    const named = Array.from({ length: brokers }, (_, i) => keyFromString(`node-${i + 1}`));
    const randomSets = Array.from({ length: DRAWS }, () =>
      Array.from({ length: brokers }, () => Key.read(draws.bytes(8), 0)),
    );
    for (const virtualNodes of VIRTUAL_NODE_COUNTS) {
      const samples = randomSets.map((set) => maxOverMean(partitions, set, virtualNodes)).sort((a, b) => a - b);
      const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
      rows.push([
        String(brokers),
        virtualNodes === DEFAULTS.virtualNodes ? `${virtualNodes} (default)` : String(virtualNodes),
        maxOverMean(partitions, named, virtualNodes).toFixed(3),
        mean.toFixed(3),
        percentile(samples, 50).toFixed(3),
        percentile(samples, 90).toFixed(3),
        percentile(samples, 99).toFixed(3),
        samples[samples.length - 1].toFixed(3),
      ]);
    }
  }
  const header = ['brokers', 'virtual nodes', 'node-1..N', `mean (${DRAWS} draws)`, 'p50', 'p90', 'p99', 'max'];
  printTable(header, rows);
  console.log(`\nmax share / mean share over ${PARTITION_KEYS.toLocaleString('en')} random keys; ${Date.now() - started} ms`);
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i])).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

main();
