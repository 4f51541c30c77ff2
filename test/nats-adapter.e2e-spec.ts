import { join } from 'node:path';
import { connect as connectV3 } from '@nats-io/transport-node';
import { ClosedError, TransportError } from 'nestjs-flow';
import { connectNats, NatsPubSub, type NatsConnectionLike, type NatsOptions } from 'nestjs-flow/nats';
import { createTestCertificates, type TestCertificates } from './harness/certs';
import { Inbox } from './harness/inbox';
import { startNatsCluster, startNatsServer, waitForRouteInterest, type NatsCluster, type NatsServer } from './harness/nats-server';
import { StatusLog } from './harness/status-log';

const encoder = new TextEncoder();
const text = (value: string): Uint8Array => encoder.encode(value);

/** A v3 connection. Typed structurally: under this repo's node10 module resolution the v3 types resolve to any. */
function connectToV3(url: string): Promise<NatsConnectionLike> {
  return connectV3({ servers: url });
}

/** Adapters a test opened; closed after each test so a failure leaves no connection behind. */
const opened: NatsPubSub[] = [];
const errors: { error: unknown; subject?: string }[] = [];

async function open(options: NatsOptions): Promise<NatsPubSub> {
  const pubsub = await connectNats({ onError: (error, subject) => errors.push({ error, subject }), ...options });
  opened.push(pubsub);
  return pubsub;
}

async function connectionFailure(options: NatsOptions): Promise<TransportError> {
  const error: unknown = await open(options).then(
    () => new Error('connected, but a failure was expected'),
    (failure: unknown) => failure,
  );
  if (!(error instanceof TransportError)) throw error;
  return error;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((pubsub) => pubsub.close()));
  errors.length = 0;
});

describe('NatsPubSub on one server', () => {
  let server: NatsServer;

  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('delivers a published message to a subscriber with its subject and bytes, as a plain Uint8Array', async () => {
    const subscriber = await open({ servers: server.url });
    const publisher = await open({ servers: server.url });
    const inbox = new Inbox();
    subscriber.subscribe('greetings.en', {}, inbox.handler);
    await subscriber.flush();

    publisher.publish('greetings.en', text('hello'));

    const [message] = await inbox.waitFor(1);
    expect(message!.subject).toBe('greetings.en');
    expect(new TextDecoder().decode(message!.data)).toBe('hello');
    // nats.js hands over a Buffer; handlers see the embedded transport's type instead.
    expect(message!.data.constructor).toBe(Uint8Array);
  });

  it('delivers each message once across a queue group of three adapters', async () => {
    const members = await Promise.all([1, 2, 3].map(() => open({ servers: server.url })));
    const publisher = await open({ servers: server.url });
    const inboxes = members.map(() => new Inbox());
    const all = new Inbox();
    members.forEach((member, i) =>
      member.subscribe('work', { queue: 'workers' }, (subject, data) => {
        inboxes[i]!.handler(subject, data);
        all.handler(subject, data);
      }),
    );
    await Promise.all(members.map((member) => member.flush()));

    for (let i = 0; i < 3000; i++) publisher.publish('work', text(String(i)));
    await all.waitFor(3000, 20_000);
    // Whatever the server sent before these round trips has been handled: late duplicates would show now.
    await publisher.flush();
    await Promise.all(members.map((member) => member.flush()));

    expect(all.messages).toHaveLength(3000);
    expect(new Set(all.texts()).size).toBe(3000);
    for (const inbox of inboxes) expect(inbox.messages.length).toBeGreaterThan(0);
  });

  it('delivers every message to each plain subscriber', async () => {
    const subscribers = await Promise.all([1, 2, 3].map(() => open({ servers: server.url })));
    const publisher = await open({ servers: server.url });
    const inboxes = subscribers.map((subscriber) => {
      const inbox = new Inbox();
      subscriber.subscribe('news', {}, inbox.handler);
      return inbox;
    });
    await Promise.all(subscribers.map((subscriber) => subscriber.flush()));

    for (let i = 0; i < 100; i++) publisher.publish('news', text(String(i)));

    for (const inbox of inboxes) {
      await inbox.waitFor(100);
      expect(inbox.texts()).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
    }
  });

  it('keeps delivering after a handler throws, and reports the exception with the subject', async () => {
    const pubsub = await open({ servers: server.url });
    const inbox = new Inbox();
    const failure = new Error('handler failed');
    pubsub.subscribe('fragile', {}, (subject, data) => {
      inbox.handler(subject, data);
      if (inbox.messages.length === 1) throw failure;
    });
    await pubsub.flush();

    pubsub.publish('fragile', text('first'));
    pubsub.publish('fragile', text('second'));

    await inbox.waitFor(2);
    expect(inbox.texts()).toEqual(['first', 'second']);
    expect(errors).toEqual([{ error: failure, subject: 'fragile' }]);
  });

  it('stops delivering to a subscription after unsubscribe', async () => {
    const pubsub = await open({ servers: server.url });
    const stopped = new Inbox();
    const control = new Inbox();
    const subscription = pubsub.subscribe('updates', {}, stopped.handler);
    pubsub.subscribe('updates', {}, control.handler);
    await pubsub.flush();

    subscription.unsubscribe();
    subscription.unsubscribe();
    pubsub.publish('updates', text('after'));

    await control.waitFor(1);
    await pubsub.flush();
    expect(stopped.messages).toHaveLength(0);
    expect(subscription.subject).toBe('updates');
  });

  it('closes once however often close() is called, and refuses work afterwards', async () => {
    const pubsub = await open({ servers: server.url });
    const statuses = new StatusLog(pubsub);

    const first = pubsub.close();
    const second = pubsub.close();
    await Promise.all([first, second]);
    await pubsub.close();

    expect(second).toBe(first);
    expect(statuses.seen).toEqual(['closed']);
    expect(() => pubsub.publish('late', text('x'))).toThrow(ClosedError);
    expect(() => pubsub.subscribe('late', {}, () => undefined)).toThrow(ClosedError);
    await expect(pubsub.flush()).rejects.toBeInstanceOf(ClosedError);
    expect(pubsub.connection.isClosed()).toBe(true);
  });

  it('handles the messages already received before close() resolves', async () => {
    const subscriber = await open({ servers: server.url });
    const publisher = await open({ servers: server.url });
    const inbox = new Inbox();
    subscriber.subscribe('batch', {}, inbox.handler);
    await subscriber.flush();
    for (let i = 0; i < 1000; i++) publisher.publish('batch', text(String(i)));
    await publisher.flush();

    await subscriber.close();

    expect(inbox.messages).toHaveLength(1000);
  });
});

describe('NatsPubSub over a connection from @nats-io/transport-node', () => {
  let server: NatsServer;

  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('publishes, subscribes with a queue group, and leaves the connection open on close()', async () => {
    const connections = await Promise.all([1, 2, 3].map(() => connectToV3(server.url)));
    try {
      const members = connections.map((nc) => NatsPubSub.fromConnection(nc));
      const all = new Inbox();
      const inboxes = members.map((member) => {
        const inbox = new Inbox();
        member.subscribe('v3.work', { queue: 'workers' }, (subject, data) => {
          inbox.handler(subject, data);
          all.handler(subject, data);
        });
        return inbox;
      });
      await Promise.all(members.map((member) => member.flush()));

      for (let i = 0; i < 3000; i++) members[0]!.publish('v3.work', text(String(i)));
      await all.waitFor(3000, 20_000);
      await Promise.all(members.map((member) => member.flush()));

      expect(new Set(all.texts()).size).toBe(3000);
      expect(all.messages).toHaveLength(3000);
      expect(all.messages.filter((m) => m.data.constructor !== Uint8Array)).toEqual([]);
      for (const inbox of inboxes) expect(inbox.messages.length).toBeGreaterThan(0);

      await Promise.all(members.map((member) => member.close()));
      const raw = new Inbox();
      connections[1]!.subscribe('v3.raw', { callback: (_error, msg) => raw.handler(msg.subject, msg.data) });
      await connections[1]!.flush();
      connections[0]!.publish('v3.raw', text('still open'));
      await raw.waitFor(1);
      expect(connections.map((nc) => nc.isClosed())).toEqual([false, false, false]);
      expect(all.messages).toHaveLength(3000);
    } finally {
      await Promise.all(connections.map((nc) => nc.close()));
    }
  });

  it('reports "closed" when the owner closes the connection underneath it', async () => {
    const nc = await connectToV3(server.url);
    const pubsub = NatsPubSub.fromConnection(nc);
    const statuses = new StatusLog(pubsub);

    await nc.close();

    await statuses.waitFor('closed');
    expect(statuses.seen).toEqual(['closed']);
    expect(() => pubsub.publish('gone', text('x'))).toThrow(ClosedError);
    await pubsub.close();
  });

  it('closes an owned connection', async () => {
    const nc = await connectToV3(server.url);
    const pubsub = NatsPubSub.fromConnection(nc, { owned: true });

    await pubsub.close();

    expect(nc.isClosed()).toBe(true);
  });
});

describe('NatsPubSub with permissions (docs/nats-permissions.conf)', () => {
  let server: NatsServer;

  beforeAll(async () => {
    server = await startNatsServer({ configFile: join(__dirname, '..', 'docs', 'nats-permissions.conf') });
  });
  afterAll(async () => {
    await server?.stop();
  });

  // The client's user may publish on the ledger's streams only.
  it.each(['v2', 'v3'] as const)(
    'tells a request the server refused that it was refused, and reports a refused publish naming its subject (%s client)',
    async (version) => {
      const reported: unknown[] = [];
      let onReport: () => void = () => undefined;
      const firstReport = new Promise<void>((resolve) => (onReport = resolve));
      const onError = (error: unknown): void => {
        reported.push(error);
        onReport();
      };
      const credentials = { servers: server.url, user: 'ledger-client', pass: 'client-secret' };
      const pubsub =
        version === 'v2'
          ? await connectNats({ ...credentials, onError })
          : NatsPubSub.fromConnection((await connectV3(credentials)) as NatsConnectionLike, { owned: true, onError });
      opened.push(pubsub);

      const refusal = new Promise<unknown>((resolve, reject) => {
        pubsub.publishRequest('ledger-clients.view', text('?'), () => reject(new Error('heard no-responders, not the refusal')), undefined, resolve);
      });
      await expect(refusal).resolves.toMatchObject({
        code: 'FLOW_TRANSPORT',
        message: 'the NATS server refused to publish on "ledger-clients.view" (permissions violation): nothing was delivered',
      });
      expect(reported).toEqual([]);

      pubsub.publish('ledger.audit', text('unseen'));
      await firstReport;
      expect(reported.map((error) => (error as Error).message)).toEqual([
        'the NATS server refused to publish on "ledger.audit" (permissions violation): nothing was delivered',
      ]);
    },
  );
});

describe('NatsPubSub with authentication', () => {
  let tokenServer: NatsServer;
  let userServer: NatsServer;

  beforeAll(async () => {
    [tokenServer, userServer] = await Promise.all([
      startNatsServer({ token: 's3cret-token' }),
      startNatsServer({ user: 'flow', pass: 'flow-pass' }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([tokenServer?.stop(), userServer?.stop()]);
  });

  async function roundTrip(pubsub: NatsPubSub): Promise<string[]> {
    const inbox = new Inbox();
    pubsub.subscribe('auth.check', {}, inbox.handler);
    await pubsub.flush();
    pubsub.publish('auth.check', text('ok'));
    await inbox.waitFor(1);
    return inbox.texts();
  }

  it('connects with the right token', async () => {
    expect(await roundTrip(await open({ servers: tokenServer.url, token: 's3cret-token' }))).toEqual(['ok']);
  });

  it('fails with a TransportError that says authorization failed for a wrong token', async () => {
    const error = await connectionFailure({ servers: tokenServer.url, token: 'wrong' });

    expect(error.code).toBe('FLOW_TRANSPORT');
    expect(error.message).toMatch(/authorization failed/i);
    expect(error.message).toContain(tokenServer.url);
    expect(error.cause).toBeDefined();
  });

  it('fails the same way without a token', async () => {
    expect((await connectionFailure({ servers: tokenServer.url })).message).toMatch(/authorization failed/i);
  });

  it('connects with the right user and password', async () => {
    expect(await roundTrip(await open({ servers: userServer.url, user: 'flow', pass: 'flow-pass' }))).toEqual(['ok']);
  });

  it('fails with a TransportError that says authorization failed for a wrong password', async () => {
    const error = await connectionFailure({ servers: userServer.url, user: 'flow', pass: 'nope' });

    expect(error.message).toMatch(/authorization failed/i);
    expect(error.message).not.toContain('nope');
  });

  it('says it cannot connect when no server listens', async () => {
    const stopped = await startNatsServer();
    await stopped.stop();

    const error = await connectionFailure({ servers: stopped.url });

    expect(error.message).toContain(`cannot connect to NATS at ${stopped.url}`);
  });
});

describe('NatsPubSub over TLS', () => {
  let certs: TestCertificates;
  let server: NatsServer;

  beforeAll(async () => {
    certs = await createTestCertificates();
    server = await startNatsServer({ tls: { cert: certs.certFile, key: certs.keyFile } });
  });
  afterAll(async () => {
    await server?.stop();
    await certs?.remove();
  });

  it('exchanges messages when the client trusts the CA file', async () => {
    const subscriber = await open({ servers: server.url, tls: { caFile: certs.caFile } });
    const publisher = await open({ servers: server.url, tls: { caFile: certs.caFile } });
    const inbox = new Inbox();
    subscriber.subscribe('secure', {}, inbox.handler);
    await subscriber.flush();

    publisher.publish('secure', text('sealed'));

    await inbox.waitFor(1);
    expect(inbox.texts()).toEqual(['sealed']);
  });

  it('refuses a server whose certificate it cannot verify', async () => {
    const error = await connectionFailure({ servers: server.url, tls: {} });

    expect(error.message).toContain(`cannot connect to NATS at ${server.url}`);
  });
});

describe('NatsPubSub on a 3-server cluster', () => {
  let cluster: NatsCluster;

  beforeAll(async () => {
    cluster = await startNatsCluster(3);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('delivers to a subscriber on server A what is published on server C', async () => {
    const [a, , c] = cluster.servers;
    const subscriber = await open({ servers: a!.url });
    const publisher = await open({ servers: c!.url });
    const inbox = new Inbox();
    subscriber.subscribe('across', { queue: 'q' }, inbox.handler);
    await subscriber.flush();
    await waitForRouteInterest(c!, 'across');

    publisher.publish('across', text('over the route'));

    await inbox.waitFor(1);
    expect(inbox.texts()).toEqual(['over the route']);
  });
});

describe('NatsPubSub across a server restart', () => {
  let server: NatsServer;

  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('reports disconnected then reconnected, and messages flow again on the old subscription', async () => {
    const pubsub = await open({ servers: server.url, reconnect: { waitMs: 100 } });
    const statuses = new StatusLog(pubsub);
    const inbox = new Inbox();
    pubsub.subscribe('survivor', {}, inbox.handler);
    await pubsub.flush();

    await server.stop();
    const disconnected = await statuses.waitFor('disconnected');
    await server.restart();
    await statuses.waitFor('reconnected', 15_000, disconnected + 1);
    pubsub.publish('survivor', text('back'));

    await inbox.waitFor(1);
    expect(inbox.texts()).toEqual(['back']);
    expect(statuses.seen).not.toContain('closed');
  });

  it('closes its connection for good when close() is called while the server is down', async () => {
    const pubsub = await open({ servers: server.url, reconnect: { waitMs: 100 } });
    const statuses = new StatusLog(pubsub);
    pubsub.subscribe('orphan', {}, () => undefined);
    await pubsub.flush();
    await server.stop();
    await statuses.waitFor('disconnected');

    await pubsub.close();

    expect(pubsub.connection.isClosed()).toBe(true);
    expect(statuses.seen.filter((status) => status === 'closed')).toHaveLength(1);
  });
});
