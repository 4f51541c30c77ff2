#!/usr/bin/env node
// Runs the benchmarks one after another (never in parallel: they would
// measure each other). `npm run bench` runs all; `npm run bench -- hash ring`
// runs those named. Each prints its own table with the ratio against the
// peer it measures in the same run. Nothing here passes or fails on timing.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const ALL = ['hash', 'ring', 'balance', 'broker', 'nats-core', 'nest-flow', 'telemetry', 'takeover', 'rebalance', 'rss', 'handoff'];
// Everything that is not a benchmark's name goes to each benchmark: flags and
// numbers (`npm run bench -- nats-core --rounds 3`, `npm run bench -- rss 500000`).
const args = process.argv.slice(2);
const chosen = args.filter((a) => ALL.includes(a));
const flags = args.filter((a) => !ALL.includes(a) && (a.startsWith('-') || /^\d+$/.test(a)));
const names = chosen.length > 0 ? chosen : ALL;
const unknown = args.filter((a) => !ALL.includes(a) && !flags.includes(a));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; choose from ${ALL.join(', ')}`);
  process.exit(2);
}

// The same TypeScript hook as the end-to-end workers: it also maps `nestjs-flow` to the library's sources.
const tsRegister = path.join(__dirname, '..', 'test', 'support', 'ts-register.js');
let failed = 0;
for (const name of names) {
  console.log(`\n=== bench/${name}.bench.ts`);
  const run = spawnSync(process.execPath, ['-r', tsRegister, path.join(__dirname, `${name}.bench.ts`), ...flags], {
    stdio: 'inherit',
    cwd: path.join(__dirname, '..'),
  });
  if (run.status !== 0) {
    failed++;
    console.error(`bench/${name}.bench.ts exited with ${run.status ?? run.signal}`);
  }
}
process.exit(failed === 0 ? 0 : 1);
