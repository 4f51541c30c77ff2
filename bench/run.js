#!/usr/bin/env node
// Runs the benchmarks one after another (never in parallel: they would
// measure each other). `npm run bench` runs all; `npm run bench -- hash ring`
// runs those named. Each prints its own table with the ratio against the
// peer it measures in the same run. Nothing here passes or fails on timing.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

/** Those that run the built package (useBuiltLibrary). */
const BUILT = ['nats-core', 'nest-flow', 'rss'];
const ALL = ['hash', 'ring', 'balance', 'broker', 'startup', 'nats-core', 'nest-flow', 'telemetry', 'takeover', 'rebalance', 'rss', 'young-gen', 'handoff'];
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
// Benchmarks whose workers run the built package (bench/support/built-library.ts) build it
// themselves when run alone; here it is built once for all of them.
const env = { ...process.env };
if (!flags.includes('--sources') && names.some((name) => BUILT.includes(name))) {
  console.log('building the package once for the benchmarks that run it (npm run build)');
  const build = spawnSync('npm', ['run', 'build'], { cwd: path.join(__dirname, '..'), encoding: 'utf8' });
  if (build.status !== 0) {
    console.error(`npm run build failed (exit ${build.status}):\n${build.stdout}\n${build.stderr}`);
    process.exit(1);
  }
  env.FLOW_LIBRARY_BUILT = '1';
}
let failed = 0;
for (const name of names) {
  console.log(`\n=== bench/${name}.bench.ts`);
  const run = spawnSync(process.execPath, ['-r', tsRegister, path.join(__dirname, `${name}.bench.ts`), ...flags], {
    stdio: 'inherit',
    cwd: path.join(__dirname, '..'),
    env,
  });
  if (run.status !== 0) {
    failed++;
    console.error(`bench/${name}.bench.ts exited with ${run.status ?? run.signal}`);
  }
}
process.exit(failed === 0 ? 0 : 1);
