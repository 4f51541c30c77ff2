/**
 * Owner lookups on the ring against a `Map.get` baseline, measured in one run.
 *
 *   node -r ./test/support/ts-register.js bench/ring.bench.ts
 *
 * For each ring size: random member keys, 65,536 random partition keys
 * generated up front, then `Ring.ownerOf` in a loop for about one second.
 * The baseline looks up the same number of pre-built string keys in a Map of
 * the same size: the cost of the cheapest routing table one could write.
 */
import { Key } from 'nestjs-flow/core';
import { Ring } from '../libs/flow/src/core/ring';
import { seededRandom as seededSource } from 'nestjs-flow/testing';

const SIZES = [3, 100, 1000];
const LOOKUPS = 1 << 16;
const WARMUP_MS = 200;
const MEASURE_MS = 1000;

/** Seeded so that runs compare. */
const seededRandom = (seed: number): (() => number) => seededSource(seed).next;

/**
 * Runs `pass` (which performs LOOKUPS lookups and returns a checksum) until
 * `ms` have elapsed; returns lookups per second. The checksum is kept so the
 * work cannot be optimised away.
 */
function measure(pass: () => number, ms: number): { opsPerSecond: number; checksum: number } {
  let checksum = 0;
  let passes = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    checksum = (checksum + pass()) | 0;
    passes++;
    elapsed = performance.now() - start;
  }
  return { opsPerSecond: (passes * LOOKUPS) / (elapsed / 1000), checksum };
}

function run(size: number, random: () => number): { size: number; ring: number; map: number; checksum: number } {
  const random32 = (): number => (random() * 0x100000000) >>> 0;

  const ring = new Ring();
  while (ring.size < size) ring.add(new Key(random32(), random32()));
  const partitions = Array.from({ length: LOOKUPS }, () => new Key(random32(), random32()));
  const ringPass = (): number => {
    let sum = 0;
    for (let i = 0; i < LOOKUPS; i++) sum ^= (ring.ownerOf(partitions[i]) as Key).lo;
    return sum;
  };

  const members = ring.keys().map((k) => k.toString());
  const map = new Map<string, string>(members.map((m) => [m, m]));
  // Fresh string objects (not the map's own keys), as a decoded subject would be.
  const lookups = Array.from({ length: LOOKUPS }, () => members[Math.floor(random() * size)].split('').join(''));
  const mapPass = (): number => {
    let sum = 0;
    for (let i = 0; i < LOOKUPS; i++) sum += (map.get(lookups[i]) as string).length;
    return sum;
  };

  measure(ringPass, WARMUP_MS);
  measure(mapPass, WARMUP_MS);
  const ringResult = measure(ringPass, MEASURE_MS);
  const mapResult = measure(mapPass, MEASURE_MS);
  return {
    size,
    ring: ringResult.opsPerSecond,
    map: mapResult.opsPerSecond,
    checksum: ringResult.checksum ^ mapResult.checksum,
  };
}

function main(): void {
  const random = seededRandom(0x5eed);
  const rows = SIZES.map((size) => run(size, random));
  const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
  console.log(`node ${process.version}, ${fmt(LOOKUPS)} pre-generated lookups, ~${MEASURE_MS} ms per measurement`);
  console.log('| members | Ring.ownerOf ops/s | Map.get ops/s | ring / map |');
  console.log('|---:|---:|---:|---:|');
  for (const row of rows) {
    console.log(`| ${fmt(row.size)} | ${fmt(row.ring)} | ${fmt(row.map)} | ${(row.ring / row.map).toFixed(2)} |`);
  }
  // Printed so the lookups stay observable; meaningless otherwise.
  console.log(`checksum ${rows.reduce((x, r) => x ^ r.checksum, 0)}`);
}

main();
