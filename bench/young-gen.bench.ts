/**
 * What makes V8's young generation grow, the main part of the brokers' RSS
 * growth in bench/rss.bench.ts. Each row runs in a fresh Node process: it
 * allocates the same short-lived objects (about 25,000,000 of them) while
 * keeping the newest `live` of them reachable, as a broker keeps its queued
 * messages and a publisher its unsettled publishes, and records when the
 * young generation (V8's new space) changed size.
 *
 * The peer is the row that keeps nothing alive, as a raw nats.js subscriber
 * keeps nothing of a message once its callback returns.
 *
 * Run: node -r ./test/support/ts-register.js bench/young-gen.bench.ts
 */
import { spawnSync } from 'node:child_process';
import { getHeapSpaceStatistics } from 'node:v8';

const OBJECTS = 25_000_000;
const LIVE = [0, 100, 1_000, 10_000, 100_000];
const MIB = 1024 * 1024;
/** A row must not take longer than this (about 2 s each on the 2-core CI machine). */
const ROW_TIMEOUT_MS = 60_000;

interface Row {
  live: number;
  finalMiB: number;
  /** Millions of objects allocated when the new space changed, and its size then (MiB). */
  changes: { atMillions: number; mib: number }[];
}

function newSpaceMiB(): number {
  return getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')!.space_size / MIB;
}

/** One row, in this process: allocates OBJECTS, keeping the newest `live` reachable. */
function measure(live: number): Row {
  const kept: unknown[] = new Array(live);
  const changes: Row['changes'] = [];
  let last = newSpaceMiB();
  for (let i = 0; i < OBJECTS; i++) {
    const message = { seq: i, key: `customer-${i & 1023}`, parts: [i, i + 1] };
    if (live > 0) kept[i % live] = message;
    if ((i & 0xffff) === 0) {
      const now = newSpaceMiB();
      if (now !== last) changes.push({ atMillions: i / 1e6, mib: now });
      last = now;
    }
  }
  return { live, finalMiB: newSpaceMiB(), changes };
}

function main(): void {
  const child = process.argv.indexOf('--row');
  if (child >= 0) {
    process.stdout.write(JSON.stringify(measure(Number(process.argv[child + 1]))));
    return;
  }
  console.log(`${OBJECTS.toLocaleString('en-US')} short-lived objects per row, the newest "live" of them kept reachable; node ${process.version}\n`);
  console.log(`${'live objects'.padStart(12)}  ${'new space at end, MiB'.padStart(21)}  new space changes (at millions of objects allocated: MiB)`);
  for (const live of LIVE) {
    const run = spawnSync(process.execPath, [...process.execArgv, __filename, '--row', String(live)], {
      encoding: 'utf8',
      timeout: ROW_TIMEOUT_MS,
    });
    if (run.status !== 0) throw new Error(`row ${live} failed (${run.status ?? run.signal}): ${run.stderr}`);
    const row = JSON.parse(run.stdout) as Row;
    const changes = row.changes.map((c) => `${c.atMillions.toFixed(1)}: ${c.mib}`).join(', ') || 'none';
    console.log(`${live.toLocaleString('en-US').padStart(12)}  ${String(row.finalMiB).padStart(21)}  ${changes}`);
  }
  console.log(
    '\nV8 grows the new space while objects keep surviving its scavenges: the more stay reachable, the sooner; ' +
      'with nothing kept it stays at its smallest.',
  );
}

main();
