/**
 * Handoff bookkeeping per draining key (issue 13: at most 100 bytes, 0 after
 * the drain), measured in one process on the in-memory bus.
 *
 *   npm run bench -- handoff
 *
 * Two brokers; the leaving one runs one handler per key, each held on a gate,
 * for KEYS keys it owns. It shuts down gracefully: the other one acquires its
 * ranges, asks, and tracks every draining lane until the gate opens. The heap
 * is measured (after a full GC) before the leave and while every key is
 * tracked; the difference, over the keys, is the bookkeeping of both sides
 * (the new owner's lane sets, the old owner's watchers, the holds). Nothing is
 * published to the draining keys meanwhile, so no held message is counted.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Broker, MemoryBus } from 'nestjs-flow/core';
import { waitFor } from 'nestjs-flow/testing';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const KEYS = Number(process.argv.find((a) => a.startsWith('--keys='))?.slice(7) ?? 20_000);

interface Tracking {
  readonly tracked: number;
}
const tracked = (broker: Broker): number => (broker as unknown as { handoff: Tracking }).handoff.tracked;

function heap(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

async function main(): Promise<void> {
  const bus = new MemoryBus();
  const options = { virtualNodes: 16, stabilization: { interval: 0 }, concurrency: KEYS, maxQueuedMessages: 4 * KEYS };
  const a = new Broker(bus.connect('a'), { ...options, nodeName: 'node-a' });
  const b = new Broker(bus.connect('b'), { ...options, nodeName: 'node-b' });
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let running = 0;
  await a.handle('orders', () => undefined);
  await b.handle('orders', async () => {
    running++;
    await gate;
  });
  await a.start();
  await b.start();
  await bus.idle();
  const mine = new Set(b.snapshot().positions.map(String));
  const keys: string[] = [];
  for (let n = 0; keys.length < KEYS && n < 50 * KEYS; n++) if (mine.has(String(b.ownerOf(`k-${n}`)))) keys.push(`k-${n}`);
  // Fire and forget: acknowledged publishes would wait for a window that only handled messages free.
  await Promise.all(keys.map((key) => a.publish('orders', new Uint8Array(0), { key, ack: false })));
  await bus.idle();
  if (running !== KEYS) throw new Error(`expected ${KEYS} running handlers, saw ${running}`);

  const before = heap();
  const leaving = b.shutdown({ timeout: 60_000 });
  // Every key tracked on both sides: the new owner's lane sets and the old owner's watchers.
  const expected = 2 * KEYS;
  await waitFor(() => tracked(a) + tracked(b) >= expected, { bus, timeoutMs: 60_000, what: 'every draining key tracked' });
  const during = heap();
  const trackedDuring = tracked(a) + tracked(b);
  open();
  await leaving;
  await bus.idle();
  const trackedAfter = tracked(a) + tracked(b);
  const after = heap();
  await a.close();

  const perKey = (during - before) / KEYS;
  console.log(`handoff bookkeeping, ${KEYS} draining keys (one running handler each), in-memory bus`);
  console.log(`  tracked while draining: ${trackedDuring} lane entries (new owner + old owner); after the drain: ${trackedAfter}`);
  console.log(`  heap before the leave ${(before / 1048576).toFixed(1)} MiB, while draining ${(during / 1048576).toFixed(1)} MiB, after ${(after / 1048576).toFixed(1)} MiB`);
  console.log(`  bytes per draining key (both sides): ${perKey.toFixed(1)}  (target <= 100; 0 tracked after the drain)`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
