/**
 * Brokers over NatsPubSub on a nats-server whose max_payload is 8 KiB: forward
 * batches stay within it, and a message that could not cross it is refused by
 * publish() and request() at once. Before, the transport refused it later (a
 * reported error nobody awaited), and the acknowledged publish was retried
 * until the publisher took its live owner for dead. A view answer larger than
 * the limit goes in parts.
 */
import { connect as connectV3 } from '@nats-io/transport-node';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Broker, type BrokerOptions } from 'nestjs-flow/core';
import { connectNats, NatsPubSub, type NatsConnectionLike } from 'nestjs-flow/nats';
import { waitFor } from '../libs/flow/src/testing/wait-for';
import { startNatsCluster, startNatsServer, type NatsServer } from './harness/nats-server';

const MAX_PAYLOAD = 8192;

describe('brokers on a nats-server with max_payload 8 KiB', () => {
  let dir: string;
  let config: string;
  let largerConfig: string;
  let server: NatsServer;
  const brokers: Broker[] = [];
  const pubsubs: NatsPubSub[] = [];
  const errors: unknown[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flow-max-payload-'));
    config = join(dir, 'nats.conf');
    writeFileSync(config, `max_payload: ${MAX_PAYLOAD}\n`);
    largerConfig = join(dir, 'nats-larger.conf');
    writeFileSync(largerConfig, `max_payload: ${16 * MAX_PAYLOAD}\n`);
    server = await startNatsServer({ configFile: config });
  });

  afterAll(async () => {
    // A broker leaves its transport open: the caller made it.
    for (const broker of brokers.splice(0)) await broker.close();
    for (const pubsub of pubsubs.splice(0)) await pubsub.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function broker(name: string, options: BrokerOptions = { virtualNodes: 8 }): Promise<Broker> {
    const onError = (error: unknown): void => void errors.push(error);
    const pubsub = await connectNats({ servers: server.url, onError });
    pubsubs.push(pubsub);
    const created = new Broker(pubsub, { nodeName: name, onError, ...options });
    brokers.push(created);
    return created;
  }

  it("reads the server's max_payload through nats.js v2 and v3 connections", async () => {
    const v2 = await connectNats({ servers: server.url });
    const v3 = NatsPubSub.fromConnection((await connectV3({ servers: server.url })) as NatsConnectionLike);
    try {
      expect(v2.maxPayload()).toBe(MAX_PAYLOAD);
      expect(v3.maxPayload()).toBe(MAX_PAYLOAD);
    } finally {
      await v2.close();
      await v3.close();
      await v3.connection.close();
    }
  });

  it('batches 300 publishes of one turn within it, and refuses a larger message at once without suspecting its owner', async () => {
    const owner = await broker('owner');
    let handled = 0;
    await owner.handle('orders', () => void handled++);
    await owner.start();
    const publisher = await broker('publisher');
    await publisher.start();
    await waitFor(() => publisher.snapshot().members.length === 8, { timeoutMs: 10_000, what: 'the publisher to learn the ring' });

    // One awaited publish per key first: the owner's notices say it takes batches.
    const keys = Array.from({ length: 10 }, (_, i) => `customer-${i}`);
    for (const key of keys) await publisher.publish('orders', new Uint8Array(256), { key });
    const burst: Promise<void>[] = [];
    for (let n = 0; n < 300; n++) burst.push(publisher.publish('orders', new Uint8Array(256), { key: keys[n % keys.length] }));
    await Promise.all(burst);
    await waitFor(() => handled === 310, { timeoutMs: 10_000, what: 'all 310 publishes handled' });

    const refusal = { name: 'TransportError', code: 'FLOW_TRANSPORT', message: expect.stringContaining(`above the max payload of ${MAX_PAYLOAD}`) };
    await expect(publisher.publish('orders', new Uint8Array(MAX_PAYLOAD), { key: keys[0] })).rejects.toMatchObject(refusal);
    await expect(publisher.request('orders', new Uint8Array(MAX_PAYLOAD), { key: keys[0] })).rejects.toMatchObject(refusal);
    await publisher.publish('orders', new Uint8Array(256), { key: keys[0] });
    await waitFor(() => handled === 311, { timeoutMs: 10_000, what: 'the publish after the refusals handled' });

    expect(errors).toEqual([]);
    expect(publisher.counters).toMatchObject({ retried: 0, timedOut: 0 });
    expect(publisher.snapshot().members).toHaveLength(8);
    expect(publisher.inFlight).toBe(0);
    // Bounded: before, the oversized publish never settled.
  }, 30_000);

  it('lets a publisher whose server takes more than its owner\'s send it a larger message: the route delivers it', async () => {
    // The limit is each server's own: nats-server delivers over a route what a client of another server may not publish.
    const cluster = await startNatsCluster(2, (i) => ({ configFile: i === 0 ? config : largerConfig }));
    const local: Broker[] = [];
    const transports: NatsPubSub[] = [];
    try {
      const start = async (name: string, url: string): Promise<Broker> => {
        const pubsub = await connectNats({ servers: url, onError: (error) => void errors.push(error) });
        transports.push(pubsub);
        const created = new Broker(pubsub, { nodeName: name, clique: 'mixed', virtualNodes: 8, onError: (error) => void errors.push(error) });
        local.push(created);
        return created;
      };
      const owner = await start('mixed-owner', cluster.servers[0]!.url);
      const sizes: number[] = [];
      await owner.handle('orders', (d) => void sizes.push(d.data.length));
      await owner.start();
      const publisher = await start('mixed-publisher', cluster.servers[1]!.url);
      await publisher.start();
      await waitFor(() => publisher.snapshot().members.length === 8, { timeoutMs: 10_000, what: 'the publisher to learn the ring' });
      await publisher.publish('orders', new Uint8Array(4 * MAX_PAYLOAD), { key: 'customer-1' });
      await waitFor(() => sizes.length === 1, { timeoutMs: 10_000, what: 'the large message handled' });
      expect(sizes).toEqual([4 * MAX_PAYLOAD]);
      // The owner's own limit still holds for what it sends.
      await expect(owner.publish('orders', new Uint8Array(4 * MAX_PAYLOAD), { key: 'customer-1' })).rejects.toMatchObject({ code: 'FLOW_TRANSPORT' });
      expect(publisher.counters).toMatchObject({ retried: 0, timedOut: 0 });
      expect(errors).toEqual([]);
    } finally {
      for (const broker of local) await broker.close();
      for (const pubsub of transports) await pubsub.close();
      await cluster.stop();
    }
  }, 30_000);

  it('answers a view question in parts when the ring does not fit one message: a publisher and a joiner learn all of it', async () => {
    // 3 brokers of 512 positions: a view answer of about 12 KiB; each one's answer to a JOIN (about 4 KiB) fits.
    // A joiner stops waiting for its answer after an ackTimeout (once what has arrived by then is read) and starts
    // with what it knows. Every broker here shares one event loop, and with jest's other workers on 2 cores it
    // stalled for 350 to 550 ms at the joiner's start (measured), past the default 500 ms: the member had not yet
    // read the question when the joiner's timer ran. The assertion below is that the parts make one answer, not
    // how fast a loaded machine answers.
    const options: BrokerOptions = { clique: 'wide', virtualNodes: 512, ackTimeout: 5_000 };
    const handled: string[] = [];
    const members: Broker[] = [];
    for (const name of ['wide-0', 'wide-1', 'wide-2']) {
      const member = await broker(name, options);
      await member.handle('orders', () => void handled.push(name));
      await member.start();
      members.push(member);
    }
    await waitFor(() => members.every((m) => m.snapshot().members.length === 1536), { timeoutMs: 10_000, what: 'the members to converge' });
    const publisher = await broker('wide-publisher', options);
    await publisher.start();
    await waitFor(() => publisher.snapshot().members.length === 1536, { timeoutMs: 10_000, what: 'the publisher to learn the ring' });
    for (let n = 0; n < 30; n++) await publisher.publish('orders', new Uint8Array(64), { key: `customer-${n}` });
    await waitFor(() => handled.length === 30, { timeoutMs: 10_000, what: 'the 30 publishes handled' });
    // Direct: no member took a message from the queue group.
    expect(members.map((m) => m.counters.received)).toEqual([0, 0, 0]);

    const joiner = await broker('wide-3', options);
    await joiner.handle('orders', () => undefined);
    const known: number[] = [];
    joiner.on('acquired', () => void known.push(joiner.snapshot().members.length));
    await joiner.start();
    await waitFor(() => known.length > 0, { timeoutMs: 10_000, what: 'the joiner to settle ownership' });
    // It settled knowing the whole ring (its own 512 positions included), not the first part of the answer.
    expect(known[0]).toBe(2048);
    expect(errors).toEqual([]);
  }, 30_000);
});
