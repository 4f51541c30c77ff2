/**
 * Brokers in their own processes against nats-servers that require
 * credentials or TLS.
 */
import { createTestCertificates, type TestCertificates } from './harness/certs';
import { startNatsServer, type NatsServer } from './harness/nats-server';
import { BrokerFleet } from './support/broker-fleet';
import { WorkerCommandError } from './support/broker-process';
import { awaitConvergence } from './support/clique-waits';
import { runKeyedStream } from './support/keyed-stream';
import type { WireError, WorkerNatsConfig } from './support/worker-protocol';
import { handlerConfig, PATIENT_TIMERS, publisherConfig, REQUEST_STREAM } from './support/worker-configs';

const TOKEN = 'e2e-token-3141';
const USER = { user: 'flow', pass: 'e2e-pass-2718' };

/** The error a worker reports when its start command fails. */
async function startFailure(fleet: BrokerFleet, label: string, nats: WorkerNatsConfig): Promise<WireError> {
  const worker = await fleet.spawn(label);
  const failure: unknown = await worker
    .start({ ...handlerConfig(nats, label), journal: fleet.journalFor(label) })
    .then(() => new Error(`${label} started, but its connection should have been refused`), (error: unknown) => error);
  if (!(failure instanceof WorkerCommandError)) throw failure;
  expect(worker.alive).toBe(true);
  return failure.wire;
}

describe('broker processes on a nats-server that requires a token', () => {
  const fleet = new BrokerFleet();
  let server: NatsServer;

  beforeAll(async () => {
    server = await startNatsServer({ token: TOKEN });
  });

  afterAll(async () => {
    await fleet.stop();
    await server?.stop();
  });

  it('fails to start with a wrong token, reporting a TransportError about authorization that hides the token', async () => {
    const error = await startFailure(fleet, 'wrong-token', { servers: server.url, token: 'not-the-token' });

    expect(error).toMatchObject({ name: 'TransportError', code: 'FLOW_TRANSPORT' });
    expect(error.message).toMatch(/authori[sz]ation/i);
    expect(error.message).toContain(server.url);
    expect(error.message).not.toContain('not-the-token');
  });

  it('fails to start without a token, reporting a TransportError about authorization', async () => {
    const error = await startFailure(fleet, 'no-token', { servers: server.url });

    expect(error).toMatchObject({ name: 'TransportError', code: 'FLOW_TRANSPORT' });
    expect(error.message).toMatch(/authori[sz]ation/i);
  });

  it('answers requests between brokers that present the right token', async () => {
    const nats = { servers: server.url, token: TOKEN };
    const [handler, requester] = await Promise.all([
      fleet.launch('token-handler', handlerConfig(nats, 'token-handler', PATIENT_TIMERS)),
      fleet.launch('token-requester', publisherConfig(nats, 'token-requester', PATIENT_TIMERS)),
    ]);

    const [outcome] = await requester.requests(REQUEST_STREAM, 2_000, [
      { key: 'k', body: { mode: 'echo', text: 'with token' } },
    ]);

    expect(outcome).toMatchObject({ ok: true, reply: { text: 'with token', node: (await handler.snapshot()).nodeKey } });
  });
});

describe('broker processes on a nats-server that requires a user and password', () => {
  const fleet = new BrokerFleet();
  let server: NatsServer;

  beforeAll(async () => {
    server = await startNatsServer(USER);
  });

  afterAll(async () => {
    await fleet.stop();
    await server?.stop();
  });

  it('fails to start with a wrong password, reporting a TransportError about authorization that hides the password', async () => {
    const error = await startFailure(fleet, 'wrong-pass', { servers: server.url, user: USER.user, pass: 'wrong-pass-1' });

    expect(error).toMatchObject({ name: 'TransportError', code: 'FLOW_TRANSPORT' });
    expect(error.message).toMatch(/authori[sz]ation/i);
    expect(error.message).not.toContain('wrong-pass-1');
  });
});

describe('a broker pair on a nats-server that requires TLS', () => {
  const fleet = new BrokerFleet();
  let certificates: TestCertificates;
  let server: NatsServer;

  beforeAll(async () => {
    certificates = await createTestCertificates();
    server = await startNatsServer({ tls: { cert: certificates.certFile, key: certificates.keyFile } });
  });

  afterAll(async () => {
    await fleet.stop();
    await server?.stop();
    await certificates?.remove();
  });

  it('routes keyed messages between the two brokers over TLS, each handled once by its owner', async () => {
    const nats = { servers: `tls://127.0.0.1:${server.port}`, caFile: certificates.caFile };
    const [handlers, publisher] = await Promise.all([
      Promise.all([1, 2].map((i) => fleet.launch(`tls-${i}`, handlerConfig(nats, `tls-node-${i}`, PATIENT_TIMERS)))),
      fleet.launch('tls-publisher', publisherConfig(nats, 'tls-publisher', PATIENT_TIMERS)),
    ]);
    const views = await awaitConvergence(handlers, 2 * PATIENT_TIMERS.virtualNodes, 30_000);

    const run = await runKeyedStream({
      publisher,
      handlers,
      ring: handlers.map((h, i) => ({ label: h.label, view: views[i]! })),
      count: 2_000,
      window: 1_000,
    });

    expect(run.tally.missing).toEqual([]);
    expect(run.tally.duplicates).toBe(0);
    expect(run.misrouted).toEqual([]);
    // The publisher routes each keyed message straight to its owner over TLS: both owners handle their share.
    expect(run.counters.map((c) => c.handled > 0)).toEqual([true, true]);
  });

  it('refuses a broker that does not trust the server certificate', async () => {
    const error = await startFailure(fleet, 'untrusting', { servers: `tls://127.0.0.1:${server.port}` });

    expect(error).toMatchObject({ name: 'TransportError', code: 'FLOW_TRANSPORT' });
    expect(error.message).toContain(`127.0.0.1:${server.port}`);
  });
});
