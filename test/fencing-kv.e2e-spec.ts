/**
 * Fencing a stale owner with NATS KV, on a real nats-server with JetStream:
 * broker A (alone, so the owner of every key) reads a key's state with
 * revision r and is held; broker B joins and takes the key's range, handles
 * the next message for it and writes (revision r -> r2); then A, no longer the
 * owner (`isOwner` false, its epoch is only local), tries `kv.update(key,
 * value, r)` and the store rejects it. The epoch is a local fencing token; the
 * cross-broker fence is the store's compare-and-set on the revision.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, type KV, type NatsConnection } from 'nats';
import { connectNats, NatsPubSub } from 'nestjs-flow/nats';
import { Broker, type Delivery, type OwnershipChange } from 'nestjs-flow/core';
import { keyFromBytes } from '../libs/flow/src/core/key';
import { Ring } from '../libs/flow/src/core/ring';
import { ringPositions } from '../libs/flow/src/core/virtual-nodes';
import { startNatsServer, type NatsServer } from './harness/nats-server';

const STREAM = 'accounts';
const VIRTUAL_NODES = 8;
/** With HANDOFF_MAX_ACK_TIMEOUTS (60), B waits 6 s for A before it gives up. */
const ACK_TIMEOUT = 100;
const utf8 = new TextEncoder();
const text = new TextDecoder();

interface Outcome {
  epoch: number;
  stillOwner: boolean;
  readRevision: number;
  written?: number;
  rejected?: string;
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('fencing a stale owner with NATS KV (real nats-server, JetStream)', () => {
  let storeDir: string;
  let server: NatsServer;
  let nc: NatsConnection;
  let kv: KV;
  const pubsubs: NatsPubSub[] = [];
  const brokers: Broker[] = [];

  beforeAll(async () => {
    storeDir = await mkdtemp(path.join(tmpdir(), 'flow-js-'));
    server = await startNatsServer({ jetstream: { storeDir } });
    nc = await connect({ servers: server.url });
    kv = await nc.jetstream().views.kv('flow_fencing');
  });

  afterAll(async () => {
    for (const broker of brokers) await broker.close();
    for (const pubsub of pubsubs) await pubsub.close();
    await nc?.close();
    await server?.stop();
    await rm(storeDir, { recursive: true, force: true });
  });

  async function broker(name: string, handler: (delivery: Delivery) => Promise<void>): Promise<Broker> {
    const pubsub = await connectNats({ servers: server.url });
    pubsubs.push(pubsub);
    // A short ackTimeout: B's handoff gives up on A after HANDOFF_MAX_ACK_TIMEOUTS of them (A never finishes in time).
    const created = new Broker(pubsub, { clique: 'fencing', nodeName: name, virtualNodes: VIRTUAL_NODES, ackTimeout: ACK_TIMEOUT });
    brokers.push(created);
    await created.handle(STREAM, handler);
    return created;
  }

  it("rejects the stale owner's write after its key's range moved to another broker", async () => {
    const outcomes = new Map<string, Outcome>();
    const aRead = deferred();
    const aGo = deferred();
    const bDone = deferred();
    const handlerOf = (name: string) => async (delivery: Delivery) => {
      const key = text.decode(delivery.partitionKey);
      const entry = await kv.get(key);
      const readRevision = entry?.revision ?? 0;
      if (name === 'A') {
        aRead.resolve();
        await aGo.promise;
      }
      const outcome: Outcome = { epoch: delivery.epoch, stillOwner: delivery.ownership.isOwner(delivery.partition!), readRevision };
      try {
        outcome.written = await kv.update(key, utf8.encode(name), readRevision);
      } catch (error) {
        outcome.rejected = String(error);
      }
      outcomes.set(name, outcome);
      if (name === 'B') bDone.resolve();
    };

    const a = await broker('A', handlerOf('A'));
    await a.start();
    const b = await broker('B', handlerOf('B'));
    // Pick a key that B will own once both are on the ring.
    const ring = new Ring();
    ring.addAll([...a.snapshot().positions, ...ringPositions(b.nodeKey, VIRTUAL_NODES)]);
    const bPositions = new Set(ringPositions(b.nodeKey, VIRTUAL_NODES).map(String));
    const key = Array.from({ length: 200 }, (_, i) => `acc-${i}`).find((k) => bPositions.has(String(ring.ownerOf(keyFromBytes(utf8.encode(k))))));
    expect(key).toBeDefined();
    const initial = await kv.put(key!, utf8.encode('initial'));

    const first = a.publish(STREAM, utf8.encode('1'), { key });
    await aRead.promise;

    const aReleased = new Promise<OwnershipChange>((resolve) => a.on('released', resolve));
    const bAcquired = new Promise<OwnershipChange>((resolve) => b.on('acquired', resolve));
    await b.start();
    await Promise.all([aReleased, bAcquired]);
    expect(String(a.ownerOf(key!))).toBe(String(b.ownerOf(key!)));
    expect(bPositions.has(String(b.ownerOf(key!)))).toBe(true);

    // B holds the key while A still runs it (handoff); A keeps it past the bound, so B gives up and runs it:
    // this is the case fencing is for (as are a crash, a wrongly suspected owner, and Go brokers).
    await b.publish(STREAM, utf8.encode('2'), { key });
    await bDone.promise;
    expect(b.counters.handoffsAbandoned).toBeGreaterThan(0);
    aGo.resolve();
    await first;
    await a.shutdown({ timeout: 5_000 });

    const ofA = outcomes.get('A')!;
    const ofB = outcomes.get('B')!;
    expect(ofB).toMatchObject({ readRevision: initial, stillOwner: true });
    expect(ofB.written).toBeGreaterThan(initial);
    expect(ofA.readRevision).toBe(initial);
    expect(ofA.stillOwner).toBe(false);
    expect(ofA.written).toBeUndefined();
    expect(ofA.rejected).toMatch(/wrong last sequence/i);
    expect(text.decode((await kv.get(key!))!.value)).toBe('B');
  });
});
