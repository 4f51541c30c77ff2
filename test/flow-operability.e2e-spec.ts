/**
 * Operability on a real nats-server: a request nobody handles fails at once
 * (NATS no-responders), a request to a message stream is answered with the
 * mismatch, and while the server is down publish() and request() reject
 * with FLOW_TRANSPORT instead of losing messages silently.
 */
import { Broker, PubSubStatus } from 'nestjs-flow/core';
import { connectNats, NatsPubSub } from 'nestjs-flow/nats';
import { startNatsServer, type NatsServer } from './harness/nats-server';
import { within } from './harness/within';
import { Recorder } from './support/nest/recorder';
import { rejection } from '../libs/flow/test/rejection';
import { fromUtf8 } from '../libs/flow/test/sequence';

const utf8 = new TextEncoder();
/** Far above what a fast error takes, far below the request timeout. */
const FAST_MS = 500;
const REQUEST_TIMEOUT_MS = 10_000;

describe('a broker on NATS: fast errors and no silent loss while disconnected', () => {
  let server: NatsServer;
  const pubsubs: NatsPubSub[] = [];
  const brokers: Broker[] = [];
  const received = new Recorder<string>();
  let handler: Broker;
  let publisher: Broker;
  const statuses = new Recorder<PubSubStatus>();
  const handlerStatuses = new Recorder<PubSubStatus>();
  let buffered: Broker;
  const bufferedStatuses = new Recorder<PubSubStatus>();

  async function broker(name: string, reconnectBuffer = 0, reconnectWaitMs = 50): Promise<Broker> {
    const pubsub = await connectNats({ servers: server.url, reconnect: { waitMs: reconnectWaitMs }, onError: () => undefined });
    pubsubs.push(pubsub);
    const b = new Broker(pubsub, {
      nodeName: name,
      virtualNodes: 4,
      requestTimeout: REQUEST_TIMEOUT_MS,
      reconnectBuffer,
      onError: () => undefined,
    });
    brokers.push(b);
    return b;
  }

  beforeAll(async () => {
    server = await startNatsServer();
    handler = await broker('ops-handler');
    await handler.handle('ops.events', (d) => void received.push(fromUtf8(d.data)));
    await handler.handleRequest('ops.echo', (d) => d.data);
    handler.on('status', (status) => handlerStatuses.push(status));
    await handler.start();
    publisher = await broker('ops-publisher');
    publisher.on('status', (status) => statuses.push(status));
    await publisher.start();
    // Reconnects well after the handler has (its subscriptions back), or core NATS drops what it releases.
    buffered = await broker('ops-buffered', 2, 1_500);
    buffered.on('status', (status) => bufferedStatuses.push(status));
    await buffered.start();
  });

  afterAll(async () => {
    for (const b of brokers) await b.close();
    for (const p of pubsubs) await p.close();
    await server?.stop();
  });

  it('fails a request on a stream nobody handles with FLOW_NO_HANDLER within milliseconds', async () => {
    const started = Date.now();
    const error = await within(rejection(publisher.request('ops.nobody', utf8.encode('x'), { key: 'k' })), 5_000, 'rejection');
    expect(error.code).toBe('FLOW_NO_HANDLER');
    expect(Date.now() - started).toBeLessThan(FAST_MS);
  });

  it('answers a request sent to a message stream with the mismatch within milliseconds', async () => {
    const started = Date.now();
    const error = await within(rejection(publisher.request('ops.events', utf8.encode('x'), { key: 'k' })), 5_000, 'rejection');
    expect(error.code).toBe('FLOW_NO_HANDLER');
    expect(error.message).toContain('has a message (event) handler, not a request handler');
    expect(Date.now() - started).toBeLessThan(FAST_MS);
  });

  it('still serves a request on a handled stream', async () => {
    expect(fromUtf8(await publisher.request('ops.echo', utf8.encode('hello'), { key: 'k' }))).toBe('hello');
  });

  it('rejects publish() and request() with FLOW_TRANSPORT while the server is down, and publishes again once it is back', async () => {
    await server.stop();
    await statuses.untilTrue((s) => s.includes('disconnected'), 10_000, 'disconnected');
    const published = await rejection(publisher.publish('ops.events', utf8.encode('during'), { key: 'k' }));
    expect(published.code).toBe('FLOW_TRANSPORT');
    const requested = await rejection(publisher.request('ops.echo', utf8.encode('during'), { key: 'k' }));
    expect(requested.code).toBe('FLOW_TRANSPORT');
    // With reconnectBuffer 2: two messages wait for the reconnect, the third is refused.
    await bufferedStatuses.untilTrue((s) => s.includes('disconnected'), 10_000, 'buffered publisher disconnected');
    let heldSent = 0;
    const held = ['held-1', 'held-2'].map((m) => buffered.publish('ops.events', utf8.encode(m), { key: 'k' }).then(() => heldSent++));
    expect((await rejection(buffered.publish('ops.events', utf8.encode('held-3'), { key: 'k' }))).code).toBe('FLOW_OVERLOADED');
    expect(heldSent).toBe(0);

    await server.restart();
    await statuses.untilTrue((s) => s.includes('reconnected'), 20_000, 'publisher reconnected');
    await handlerStatuses.untilTrue((s) => s.includes('reconnected'), 20_000, 'handler reconnected');
    // The handler's subscriptions are re-sent on reconnect; a flush proves the server has them.
    await pubsubs[0].flush();
    await publisher.publish('ops.events', utf8.encode('after'), { key: 'k' });
    await received.untilTrue((r) => r.includes('after'), 10_000, 'the event published after the restart');
    expect(received.entries).not.toContain('during');
    await within(Promise.all(held), 20_000, 'held messages sent after the reconnect');
    await received.untilTrue((r) => r.includes('held-2'), 10_000, 'the held messages');
    expect(received.entries.filter((m) => m.startsWith('held'))).toEqual(['held-1', 'held-2']);
  });
});
