/**
 * One broker's connection to nats-server drops (a TCP proxy between them is
 * cut) while its handler works through a queue of one key's messages. The
 * server forgets its subscriptions, so the other member finds it dead at
 * once (no responders) and the publisher sends the key's unhandled messages
 * there. The cut-off broker starts none of its waiting messages while it is
 * down, and once back it runs them only after the member that took the key
 * over has finished it (docs/PROTOCOL.md, "Reconnecting").
 */
import { performance } from 'node:perf_hooks';
import { Broker, type BrokerOptions } from 'nestjs-flow/core';
import { connectNats, type NatsPubSub } from 'nestjs-flow/nats';
import { waitFor } from '../libs/flow/src/testing/wait-for';
import { startNatsServer, type NatsServer } from './harness/nats-server';
import { TcpProxy } from './harness/tcp-proxy';

const MESSAGES = 20;
const HANDLER_MS = 25;
const OPTIONS: BrokerOptions = { virtualNodes: 8, ackTimeout: 200, stabilization: { interval: 200 } };

interface Run {
  readonly broker: string;
  readonly seq: number;
  readonly start: number;
  end: number;
}

describe("a broker whose NATS connection drops while its key's messages wait", () => {
  let server: NatsServer;
  let proxy: TcpProxy;
  const brokers: Broker[] = [];
  const pubsubs: NatsPubSub[] = [];
  const errors: unknown[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    proxy = await TcpProxy.start({ host: '127.0.0.1', port: server.port });
  });

  afterAll(async () => {
    for (const broker of brokers.splice(0).reverse()) await broker.close();
    for (const pubsub of pubsubs.splice(0)) await pubsub.close();
    await proxy?.close();
    await server?.stop();
  });

  async function broker(name: string, servers: string, runs?: Run[]): Promise<Broker> {
    const onError = (error: unknown): void => void errors.push(error);
    const pubsub = await connectNats({ servers, reconnect: { waitMs: 50 }, onError });
    pubsubs.push(pubsub);
    const created = new Broker(pubsub, { ...OPTIONS, nodeName: name, onError });
    brokers.push(created);
    if (runs !== undefined) {
      await created.handle('orders', async (d) => {
        const run: Run = { broker: name, seq: d.data[0]!, start: performance.now(), end: Number.POSITIVE_INFINITY };
        runs.push(run);
        await new Promise((resolve) => setTimeout(resolve, HANDLER_MS));
        run.end = performance.now();
      });
    }
    await created.start();
    return created;
  }

  it('starts none of them while down, and none beside the member that took the key over', async () => {
    const runs: Run[] = [];
    const a = await broker('fence-a', proxy.url, runs);
    const b = await broker('fence-b', server.url, runs);
    const publisher = await broker('fence-p', server.url);
    const wait = { timeoutMs: 15_000 };
    await waitFor(() => [a, b, publisher].every((x) => x.snapshot().members.length === 16), { ...wait, what: 'one ring of 16 positions' });
    const positionsOfA = new Set(a.snapshot().positions.map(String));
    let key = '';
    for (let n = 0; key === '' && n < 1_000; n++) if (positionsOfA.has(String(a.ownerOf(`customer-${n}`)))) key = `customer-${n}`;
    expect(key).not.toBe('');
    const statusesOfA: string[] = [];
    let reconnectedAt = Infinity;
    a.on('status', (status) => {
      statusesOfA.push(status);
      if (status === 'reconnected') reconnectedAt = Math.min(reconnectedAt, performance.now());
    });

    const published = Array.from({ length: MESSAGES }, (_, seq) => publisher.publish('orders', Uint8Array.of(seq), { key }));
    await waitFor(() => runs.length > 0, { ...wait, what: 'the first message running on a' });
    proxy.cut();
    const cutAt = performance.now();
    await waitFor(() => statusesOfA.includes('disconnected'), { ...wait, what: 'a to see its connection drop' });
    // b finds a dead, and the publisher sends the key's unhandled messages to b.
    await waitFor(() => runs.some((r) => r.broker === 'fence-b'), { ...wait, what: 'the key running on b' });
    proxy.restore();
    await waitFor(() => statusesOfA.includes('reconnected'), { ...wait, what: 'a to reconnect' });
    await Promise.all(published);
    await waitFor(() => new Set(runs.map((r) => r.seq)).size === MESSAGES && runs.every((r) => r.end < Infinity), {
      ...wait,
      what: 'every message run, and every run ended',
    });

    const onA = runs.filter((r) => r.broker === 'fence-a');
    const onB = runs.filter((r) => r.broker === 'fence-b');
    // Nothing started on a while it was down. The run under way when the connection dropped may overlap b's.
    expect(onA.filter((r) => r.start >= cutAt && r.start < reconnectedAt)).toEqual([]);
    const later = onA.filter((r) => r.start >= cutAt);
    const overlaps = later.flatMap((ra) => onB.filter((rb) => ra.start < rb.end && rb.start < ra.end).map((rb) => [ra.seq, rb.seq]));
    expect(overlaps).toEqual([]);
    expect(onB.length).toBeGreaterThan(0);
    expect(errors).toEqual([]);
  });
});
