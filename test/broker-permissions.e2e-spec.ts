/**
 * NATS permissions are Flow's access control (docs/SECURITY.md): nats-server
 * runs with the shipped example docs/nats-permissions.conf. Brokers of the
 * ledger clique and a Flow requester work with their users' permissions; a
 * Flow publisher of its own clique publishes keyed messages through the queue
 * group, and reports once what its permissions refuse (its ring view) unless
 * it does not route direct; a client without the clique's permissions cannot
 * forge membership: the server refuses its publishes and the rings stay as
 * they were.
 */
import { join } from 'node:path';
import { connect, Events, type NatsConnection } from 'nats';
import { encodeFrame, FrameType } from '../libs/flow/src/core/frame';
import { Key } from '../libs/flow/src/core/key';
import { startNatsServer, type NatsServer } from './harness/nats-server';
import { BrokerFleet } from './support/broker-fleet';
import type { BrokerProcess } from './support/broker-process';
import { awaitConvergence, awaitHandled, quiesce } from './support/clique-waits';
import type { RingView } from './support/worker-protocol';
import { PATIENT_TIMERS } from './support/worker-configs';

const CONFIG = join(__dirname, '..', 'docs', 'nats-permissions.conf');
const CLIQUE = 'ledger-nodes';
const MESSAGE_STREAM = 'ledger.deposit';
const REQUEST_STREAM = 'ledger.balance';

interface Refusal {
  operation: string;
  subject: string;
}

/** Connects as `user` and records every permission violation the server reports. */
async function connectAs(server: NatsServer, user: string, pass: string): Promise<{ nc: NatsConnection; refused: Refusal[] }> {
  const nc = await connect({ servers: server.url, user, pass });
  const refused: Refusal[] = [];
  void (async () => {
    for await (const status of nc.status()) {
      const context = (status as { permissionContext?: Refusal }).permissionContext;
      if (status.type === Events.Error && status.data === 'PERMISSIONS_VIOLATION' && context !== undefined) refused.push(context);
    }
  })();
  return { nc, refused };
}

describe('brokers on nats-server with the shipped permissions example', () => {
  const fleet = new BrokerFleet();
  let server: NatsServer;
  let handlers: BrokerProcess[];
  let requester: BrokerProcess;
  let ring: RingView[];

  beforeAll(async () => {
    server = await startNatsServer({ configFile: CONFIG });
    const node = { servers: server.url, user: 'ledger-node', pass: 'node-secret' };
    const client = { servers: server.url, user: 'ledger-client', pass: 'client-secret' };
    const timers = { ...PATIENT_TIMERS };
    [handlers, requester] = await Promise.all([
      Promise.all(
        [1, 2, 3].map((i) =>
          fleet.launch(`node-${i}`, {
            nats: node,
            broker: { ...timers, clique: CLIQUE, nodeName: `ledger-node-${i}` },
            messageStreams: [MESSAGE_STREAM],
            requestStreams: [REQUEST_STREAM],
          }),
        ),
      ),
      fleet.launch('client', {
        nats: client,
        broker: { ...timers, clique: 'ledger-clients', nodeName: 'ledger-client-1' },
        messageStreams: [],
        requestStreams: [],
      }),
    ]);
    ring = await awaitConvergence(handlers, 3 * PATIENT_TIMERS.virtualNodes, 30_000);
  });

  afterAll(async () => {
    await fleet.stop();
    await server?.stop();
  });

  it('lets the brokers form their ring and answer a requester of another clique', async () => {
    const items = Array.from({ length: 20 }, (_, n) => ({ key: `account-${n}`, body: { mode: 'echo' as const, text: `q${n}` } }));
    const outcomes = await requester.requests(REQUEST_STREAM, 5_000, items);
    expect(outcomes.map((o) => (o.ok ? o.reply.text : o.error.code))).toEqual(items.map((i) => i.body.text));
  });

  it('fails a request on a stream its user may not publish on at once, with the refusal, not a timeout', async () => {
    const before = (await requester.counters()).errors;
    const items = [{ key: 'account-1', body: { mode: 'echo' as const, text: 'q' } }];
    const [outcome] = await requester.requests('ledger.audit', 60_000, items);
    expect(outcome).toMatchObject({ ok: false, error: { code: 'FLOW_TRANSPORT' } });
    expect(outcome!.ok ? '' : outcome!.error.message).toContain('"ledger.audit"');
    // Told to the request that asked, not reported besides.
    expect((await requester.counters()).errors).toEqual(before);
  });

  it.each([
    // What the client's user may not do: subscribe the clique subject "ledger-clients", ask "ledger-clients.view".
    ['default options', {}, { FLOW_TRANSPORT: 2 }],
    ['directRouting false', { directRouting: false }, {}],
  ])('lets a publisher of its own clique with %s publish keyed messages through the queue group', async (label, options, errors) => {
    const publisher = await fleet.launch(`publisher-${label.replace(/ /g, '-')}`, {
      nats: { servers: server.url, user: 'ledger-client', pass: 'client-secret' },
      broker: { ...PATIENT_TIMERS, clique: 'ledger-clients', nodeName: `ledger-publisher-${label.replace(/ /g, '-')}`, ...options },
      messageStreams: [],
      requestStreams: [],
    });
    const before = (await quiesce(handlers)).reduce((n, c) => n + c.handled, 0);
    // Messages journaled as handled (requests are not): what awaitHandled counts.
    const journaled = handlers.reduce((n, h) => n + h.handled, 0);
    const spec = { stream: MESSAGE_STREAM, count: 30, firstSeq: 1, keyCount: 10, keyPrefix: 'account-', batch: 30, pauseMs: 0, concurrent: true };
    const result = await publisher.publish(spec);
    expect(result.published).toBe(30);
    await awaitHandled(handlers, journaled + 30, 10_000);
    const after = await quiesce(handlers);
    expect(after.reduce((n, c) => n + c.handled, 0)).toBe(before + 30);
    const counters = await publisher.counters();
    // The view is refused at once (its question's publish), or never asked: no keyed publish waited for it.
    expect(counters.viaQueueGroup).toBe(30);
    expect(counters.errors).toEqual(errors);
  });

  it.each([
    ['ledger-publisher', 'publisher-secret'],
    ['ledger-client', 'client-secret'],
  ])('refuses membership frames from %s and keeps every ring intact', async (user, pass) => {
    const before = await Promise.all(handlers.map((h) => h.counters()));
    const { nc, refused } = await connectAs(server, user, pass);
    try {
      const forged = Array.from({ length: 2_000 }, (_, i) => new Key(0x0f000000 + i, i));
      const victim = ring[0]!.positions[0]!;
      nc.publish(CLIQUE, encodeFrame({ type: FrameType.Join, sender: forged[0]! }));
      nc.publish(CLIQUE, encodeFrame({ type: FrameType.Leave, node: new Key(parseInt(victim.slice(0, 8), 16), parseInt(victim.slice(8), 16)) }));
      nc.publish(`${CLIQUE}.${victim}`, encodeFrame({ type: FrameType.Info, id: 0, neighbours: forged }));
      await nc.flush();
      // The server answers each refused publish with -ERR; flush's PONG comes after them.
      await nc.flush();
      expect(refused).toEqual([
        { operation: 'publish', subject: CLIQUE, queue: undefined },
        { operation: 'publish', subject: CLIQUE, queue: undefined },
        { operation: 'publish', subject: `${CLIQUE}.${victim}`, queue: undefined },
      ]);
    } finally {
      await nc.close();
    }
    const after = await quiesce(handlers);
    expect(after.map((c, i) => c.malformed - before[i]!.malformed)).toEqual([0, 0, 0]);
    const views = await Promise.all(handlers.map((h) => h.snapshot()));
    expect(views.map((v) => v.members)).toEqual(ring.map((v) => v.members));
    expect(handlers.map((h) => h.alive)).toEqual([true, true, true]);
  });
});
