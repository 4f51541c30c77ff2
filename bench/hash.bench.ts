/**
 * Hash throughput: murmur3Into (32-bit halves) against a BigInt version of the
 * same Go flow hash, and a Map.get on string keys as the baseline for "cheap".
 * This measurement chose the representation of keys (two uint32 halves).
 *
 * Run: node -r ./test/support/ts-register.js bench/hash.bench.ts
 * Each row runs for about 1 s (or 50M operations, whichever ends first) after a
 * 0.2 s warm-up; all rows run in the same process, so the ratios are comparable.
 */
import { keyFromBytes } from 'nestjs-flow/core';
import { murmur3Into } from '../libs/flow/src/core/murmur3';

const MASK = (1n << 64n) - 1n;
const C1 = 0x87c37b91114253d5n;
const C2 = 0x4cf5ad432745937fn;

const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (64n - r))) & MASK;

function fmix(k: bigint): bigint {
  k ^= k >> 33n;
  k = (k * 0xff51afd7ed558ccdn) & MASK;
  k ^= k >> 33n;
  k = (k * 0xc4ceb9fe1a85ec53n) & MASK;
  return k ^ (k >> 33n);
}

function readBigEndian64(bytes: Uint8Array, at: number): bigint {
  const hi = ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
  const lo = ((bytes[at + 4] << 24) | (bytes[at + 5] << 16) | (bytes[at + 6] << 8) | bytes[at + 7]) >>> 0;
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** The same hash as murmur3.ts (block b at offset 8 * b, big-endian words), in BigInt. */
function murmur3BigInt(bytes: Uint8Array): bigint {
  const len = bytes.length;
  const blocks = len >>> 4;
  let h1 = 0n;
  let h2 = 0n;
  for (let b = 0; b < blocks; b++) {
    let k1 = readBigEndian64(bytes, 8 * b);
    let k2 = readBigEndian64(bytes, 8 * b + 8);
    k1 = (rotl((k1 * C1) & MASK, 31n) * C2) & MASK;
    h1 = (((rotl(h1 ^ k1, 27n) + h2) * 5n + 0x52dce729n) & MASK);
    k2 = (rotl((k2 * C2) & MASK, 33n) * C1) & MASK;
    h2 = (((rotl(h2 ^ k2, 31n) + h1) * 5n + 0x38495ab5n) & MASK);
  }
  const tail = blocks * 16;
  const rest = len & 15;
  if (rest > 8) {
    let k2 = 0n;
    for (let j = rest - 1; j >= 8; j--) k2 |= BigInt(bytes[tail + j]) << BigInt(8 * (j - 8));
    h2 ^= (rotl((k2 * C2) & MASK, 33n) * C1) & MASK;
  }
  if (rest > 0) {
    let k1 = 0n;
    for (let j = Math.min(rest, 8) - 1; j >= 0; j--) k1 |= BigInt(bytes[tail + j]) << BigInt(8 * j);
    h1 ^= (rotl((k1 * C1) & MASK, 31n) * C2) & MASK;
  }
  h1 ^= BigInt(len);
  h2 ^= BigInt(len);
  h1 = (h1 + h2) & MASK;
  h2 = (h2 + h1) & MASK;
  h1 = fmix(h1);
  h2 = fmix(h2);
  return (h1 + h2) & MASK;
}

const INPUTS = 1024; // distinct inputs per size, cycled, so no call sees a constant
const TIME_NS = 1e9;
const MAX_OPS = 50_000_000;
const BATCH = 4096;

function inputsOf(size: number): Uint8Array[] {
  let seed = 0x9e3779b9 ^ size;
  return Array.from({ length: INPUTS }, () =>
    Uint8Array.from({ length: size }, () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return seed & 0xff;
    }),
  );
}

interface Row {
  name: string;
  opsPerSec: number;
  nsPerOp: number;
}

/**
 * A row's work: runs `count` operations starting at index `from` and returns a
 * number derived from the results, so that nothing is optimized away. Each row
 * has its own loop (its own function literal) so the operation is inlined into it
 * as it would be at a real call site; the timer is read once per batch.
 */
type Batch = (from: number, count: number) => number;

function measure(name: string, batch: Batch, timeNs: number): Row {
  let sink = 0;
  let ops = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < timeNs && ops < MAX_OPS) {
    sink += batch(ops, BATCH);
    ops += BATCH;
    elapsed = Number(process.hrtime.bigint() - start);
  }
  if (sink === 0.5) console.log('unreachable', sink); // keeps `sink` observable
  return { name, opsPerSec: (ops / elapsed) * 1e9, nsPerOp: elapsed / ops };
}

function run(name: string, batch: Batch): Row {
  measure(name, batch, 2e8); // warm-up: let the optimizing compiler settle
  return measure(name, batch, TIME_NS);
}

function main(): void {
  const rows: Row[] = [];
  const ratios: string[] = [];
  for (const size of [16, 64]) {
    const inputs = inputsOf(size);
    const out = new Uint32Array(2);
    for (const input of inputs.slice(0, 64)) {
      murmur3Into(input, true, out);
      if (((BigInt(out[0]) << 32n) | BigInt(out[1])) !== murmur3BigInt(input)) throw new Error(`implementations disagree on ${size} bytes`);
    }
    const halves = run(`murmur3Into, ${size} B`, (from, count) => {
      let sum = 0;
      for (let i = from; i < from + count; i++) {
        murmur3Into(inputs[i & (INPUTS - 1)], true, out);
        sum += out[1];
      }
      return sum;
    });
    const key = run(`keyFromBytes, ${size} B`, (from, count) => {
      let sum = 0;
      for (let i = from; i < from + count; i++) sum += keyFromBytes(inputs[i & (INPUTS - 1)], 'go-flow').lo;
      return sum;
    });
    const big = run(`BigInt murmur3, ${size} B`, (from, count) => {
      let sum = 0;
      for (let i = from; i < from + count; i++) sum += Number(murmur3BigInt(inputs[i & (INPUTS - 1)]) & 0xffn);
      return sum;
    });
    rows.push(halves, key, big);
    ratios.push(`${size} B: 32-bit halves are ${(halves.opsPerSec / big.opsPerSec).toFixed(1)}x the BigInt version`);
  }
  const map = new Map<string, number>();
  const names = Array.from({ length: INPUTS }, (_, i) => `customer-${String(i).padStart(7, '0')}`);
  names.forEach((n, i) => map.set(n, i));
  const lookup = run('Map.get, 16-char string keys', (from, count) => {
    let sum = 0;
    for (let i = from; i < from + count; i++) sum += map.get(names[i & (INPUTS - 1)])!;
    return sum;
  });
  rows.push(lookup);
  ratios.push(`murmur3Into 16 B costs ${(rows[0].nsPerOp / lookup.nsPerOp).toFixed(1)}x a Map.get`);

  console.log(`node ${process.version}, ${INPUTS} distinct inputs per row, ~${TIME_NS / 1e9} s per row\n`);
  console.log(`${'operation'.padEnd(32)} ${'ops/s'.padStart(14)} ${'ns/op'.padStart(9)}`);
  for (const r of rows) {
    console.log(`${r.name.padEnd(32)} ${Math.round(r.opsPerSec).toLocaleString('en-US').padStart(14)} ${r.nsPerOp.toFixed(1).padStart(9)}`);
  }
  console.log(`\n${ratios.join('\n')}`);
}

main();
