/**
 * The core broker's guarantees across processes: three handler brokers and a
 * publisher-only broker, each in its own process, on one real nats-server.
 */
import { DEFAULTS } from 'nestjs-flow/core';
import { startNatsServer, type NatsServer } from './harness/nats-server';
import { BrokerFleet } from './support/broker-fleet';
import type { BrokerProcess } from './support/broker-process';
import { awaitConvergence, awaitPublisherView } from './support/clique-waits';
import { runKeyedStream } from './support/keyed-stream';
import { ownerLookup } from './support/ring-view';
import { REJECTION, type RingView, type WireError, type WorkerBrokerConfig } from './support/worker-protocol';
import { handlerConfig, PATIENT_TIMERS, publisherConfig, REQUEST_STREAM } from './support/worker-configs';

const MESSAGES = 20_000;
/** Messages published and not yet handled, at most: the exactly-once runs are consumer-paced. */
const WINDOW = 2_000;

const DEFAULT_VIRTUAL_NODES = DEFAULTS.virtualNodes;

interface Clique {
  handlers: BrokerProcess[];
  publisher: BrokerProcess;
  ring: { label: string; view: RingView }[];
}

/** `broker` without virtualNodes means the default. */
async function launchClique(
  fleet: BrokerFleet,
  server: NatsServer,
  name: string,
  broker: WorkerBrokerConfig,
): Promise<Clique> {
  const virtualNodes = broker.virtualNodes ?? DEFAULT_VIRTUAL_NODES;
  const nats = { servers: server.url };
  const [handlers, publisher] = await Promise.all([
    Promise.all([1, 2, 3].map((i) => fleet.launch(`${name}-${i}`, handlerConfig(nats, `${name}-node-${i}`, broker)))),
    fleet.launch(`${name}-publisher`, publisherConfig(nats, `${name}-publisher`, broker)),
  ]);
  const views = await awaitConvergence(handlers, 3 * virtualNodes, 30_000);
  await awaitPublisherView(publisher, 3 * virtualNodes, 10_000);
  return { handlers, publisher, ring: handlers.map((h, i) => ({ label: h.label, view: views[i]! })) };
}

/** Closes what is still running; a clique that failed to launch is left to fleet.stop(). */
async function closeClique(clique: Clique | undefined): Promise<void> {
  if (clique === undefined) return;
  await Promise.all([...clique.handlers, clique.publisher].filter((w) => w.alive).map((w) => w.close()));
}

describe('three broker processes and a publisher-only process on one nats-server', () => {
  const fleet = new BrokerFleet();
  let server: NatsServer;

  beforeAll(async () => {
    server = await startNatsServer();
  });

  afterAll(async () => {
    await fleet.stop();
    await server?.stop();
  });

  describe('with 16 virtual nodes each', () => {
    let clique: Clique;

    beforeAll(async () => {
      clique = await launchClique(fleet, server, 'vn16', { ...PATIENT_TIMERS, clique: 'vn16' });
    });

    afterAll(async () => {
      await closeClique(clique);
    });

    it('keeps the publisher-only broker off the ring', async () => {
      const view = await clique.publisher.snapshot();

      expect(view.joined).toBe(false);
      expect(clique.ring[0]!.view.members).not.toEqual(expect.arrayContaining([view.nodeKey]));
      expect(clique.ring[0]!.view.members).toHaveLength(3 * PATIENT_TIMERS.virtualNodes);
    });

    it(`handles each of ${MESSAGES} consumer-paced keyed messages exactly once, on the owner of its key`, async () => {
      const run = await runKeyedStream({ ...clique, count: MESSAGES, window: WINDOW });

      expect(run.tally.missing).toEqual([]);
      expect(run.tally.duplicates).toBe(0);
      expect(run.tally.unexpected).toEqual([]);
      expect(run.misrouted.slice(0, 5)).toEqual([]);
      const received = run.counters.reduce((sum, c) => sum + c.received, 0);
      const forwarded = run.counters.reduce((sum, c) => sum + c.forwarded, 0);
      // The publisher knows the ring: every message went straight to its owner, none through the queue group.
      expect(received).toBe(0);
      expect(forwarded).toBe(0);
    });

    it('routes every request to the owner of its key and returns its reply', async () => {
      const keys = Array.from({ length: 60 }, (_, i) => `account-${i}`);
      const ownerOf = ownerLookup(clique.ring[0]!.view.members);

      const outcomes = await clique.publisher.requests(
        REQUEST_STREAM,
        2_000,
        keys.map((key) => ({ key, body: { mode: 'echo' as const, text: `hello ${key}` } })),
      );

      expect(outcomes.map((o) => (o.ok ? o.reply.text : o.error.message))).toEqual(keys.map((key) => `hello ${key}`));
      expect(outcomes.map((o) => (o.ok ? o.reply.owner : ''))).toEqual(keys.map((key) => ownerOf(key)));
    });

    it('turns an error thrown by a remote request handler into a RemoteError with its code, message and details', async () => {
      const ownerOf = ownerLookup(clique.ring[0]!.view.members);

      const [outcome] = await clique.publisher.requests(REQUEST_STREAM, 2_000, [
        { key: 'account-7', body: { mode: 'fail', text: 'overdrawn' } },
      ]);

      expect(outcome!.ok).toBe(false);
      const error = (outcome as { error: WireError }).error;
      expect(error).toEqual({
        name: 'RemoteError',
        code: REJECTION.code,
        message: REJECTION.message,
        details: { text: 'overdrawn', owner: ownerOf('account-7') },
      });
    });

    it('rejects a request whose handler never answers with a TimeoutError after the request timeout', async () => {
      const [outcome] = await clique.publisher.requests(REQUEST_STREAM, 300, [
        { key: 'never-answered', body: { mode: 'silent', text: '' } },
      ]);

      expect(outcome!.ok).toBe(false);
      const { error, elapsedMs } = outcome as { error: WireError; elapsedMs: number };
      expect(error.name).toBe('TimeoutError');
      expect(error.code).toBe('FLOW_TIMEOUT');
      expect(error.message).toContain(`"${REQUEST_STREAM}"`);
      expect(elapsedMs).toBeGreaterThanOrEqual(290);
      expect(elapsedMs).toBeLessThan(2_000);
    });

    it('leaves the ring as it was: nobody was suspected during the runs', async () => {
      const views = await Promise.all(clique.handlers.map((h) => h.snapshot()));

      expect(views.map((v) => v.members)).toEqual(clique.ring.map((r) => r.view.members));
    });
  });

  describe(`with the default ${DEFAULT_VIRTUAL_NODES} virtual nodes and stabilization interval`, () => {
    let clique: Clique;

    beforeAll(async () => {
      // Default ring positions and stabilization; the patient ackTimeout keeps a loaded machine from retrying.
      clique = await launchClique(fleet, server, 'defaults', { clique: 'defaults', ackTimeout: PATIENT_TIMERS.ackTimeout });
    });

    afterAll(async () => {
      await closeClique(clique);
    });

    it(`handles each of ${MESSAGES} consumer-paced keyed messages exactly once, on the owner of its key`, async () => {
      const run = await runKeyedStream({ ...clique, count: MESSAGES, window: WINDOW });

      expect(run.tally.missing).toEqual([]);
      expect(run.tally.duplicates).toBe(0);
      expect(run.misrouted.slice(0, 5)).toEqual([]);
      // 256 virtual nodes balance 3 brokers within about 10 % of the mean (bench/balance.bench.ts).
      const shares = run.counters.map((c) => c.handled / MESSAGES);
      expect(Math.min(...shares)).toBeGreaterThan(0.25);
    });

    it(`loses nothing when ${MESSAGES} messages arrive in one burst, and every duplicate is a retried forward`, async () => {
      const run = await runKeyedStream({ ...clique, count: MESSAGES, firstSeq: MESSAGES });

      const { retried } = run;
      expect(run.tally.missing).toEqual([]);
      expect(run.tally.duplicates).toBeLessThanOrEqual(retried);
    });
  });
});
