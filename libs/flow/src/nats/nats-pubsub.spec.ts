import { ClosedError, InvalidOptionError, TimeoutError, TransportError } from '../core/errors';
import { headerBytes, type PubSubStatus } from '../core/pubsub';
import { headers as natsHeaders } from 'nats';
import type { NatsConnectionLike, NatsHeadersLike, NatsMsgCallback, NatsStatusLike, NatsSubscriptionLike } from './nats-connection';
import { NatsPubSub } from './nats-pubsub';

/**
 * A connection double with the client behaviours the adapter depends on:
 * callback subscriptions, a status iterator per status() call, closed().
 * The e2e suite runs the same adapter against real servers.
 */
class FakeConnection implements NatsConnectionLike {
  readonly published: { subject: string; payload?: Uint8Array; headers?: NatsHeadersLike; reply?: string }[] = [];
  readonly subscriptions: { subject: string; queue?: string; callback: NatsMsgCallback; sub: FakeSubscription }[] = [];
  publishError: Error | undefined;
  drainForever = false;
  private statusQueues: StatusQueue[] = [];
  private closedAt: ((error: void | Error) => void) | undefined;
  private readonly closedPromise = new Promise<void | Error>((resolve) => (this.closedAt = resolve));
  private closedFlag = false;

  publish(subject: string, payload?: Uint8Array, options?: { headers?: NatsHeadersLike; reply?: string }): void {
    if (this.closedFlag) throw Object.assign(new Error('closed connection'), { code: 'CONNECTION_CLOSED' });
    if (this.publishError !== undefined) throw this.publishError;
    if (options?.reply !== undefined) this.published.push({ subject, payload, reply: options.reply });
    else this.published.push(options === undefined ? { subject, payload } : { subject, payload, headers: options.headers });
  }

  subscribe(subject: string, options?: { queue?: string; callback?: NatsMsgCallback }): NatsSubscriptionLike {
    const sub = new FakeSubscription(this);
    this.subscriptions.push({ subject, queue: options?.queue, callback: options!.callback!, sub });
    return sub;
  }

  deliver(subject: string, text: string, headers?: NatsHeadersLike): void {
    for (const s of this.subscriptions) {
      if (s.subject === subject && !s.sub.isClosed()) {
        s.callback(null, { subject, data: new TextEncoder().encode(text), ...(headers === undefined ? {} : { headers }) });
      }
    }
  }

  async flush(): Promise<void> {}

  drain(): Promise<void> {
    if (this.drainForever) return new Promise(() => undefined);
    return this.close();
  }

  async close(): Promise<void> {
    this.closedFlag = true;
    this.closedAt?.();
  }

  closed(): Promise<void | Error> {
    return this.closedPromise;
  }

  isClosed(): boolean {
    return this.closedFlag;
  }

  status(): AsyncIterable<NatsStatusLike> & { stop(): void } {
    const queue = new StatusQueue();
    this.statusQueues.push(queue);
    return queue;
  }

  emitStatus(status: NatsStatusLike): void {
    for (const queue of this.statusQueues) queue.push(status);
  }

  get activeStatusIterators(): number {
    return this.statusQueues.filter((q) => !q.stopped).length;
  }
}

class FakeSubscription implements NatsSubscriptionLike {
  private done = false;
  constructor(private readonly connection: FakeConnection) {}
  unsubscribe(): void {
    this.done = true;
  }
  drain(): Promise<void> {
    if (this.connection.drainForever) return new Promise(() => undefined);
    this.done = true;
    return Promise.resolve();
  }
  isClosed(): boolean {
    return this.done;
  }
}

class StatusQueue implements AsyncIterable<NatsStatusLike> {
  stopped = false;
  private readonly items: NatsStatusLike[] = [];
  private wake: (() => void) | undefined;

  push(status: NatsStatusLike): void {
    this.items.push(status);
    this.wake?.();
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<NatsStatusLike> {
    while (!this.stopped) {
      const next = this.items.shift();
      if (next !== undefined) yield next;
      else await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}

/** Lets the adapter's status loop (an async iterator) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** close() with the drain timer advanced by a fake clock past drainTimeoutMs (50 ms). */
async function closeWithFakeClock(pubsub: NatsPubSub): Promise<void> {
  jest.useFakeTimers();
  try {
    const closing = pubsub.close();
    await jest.advanceTimersByTimeAsync(50);
    await closing;
  } finally {
    jest.useRealTimers();
  }
}

function adapter(connection: FakeConnection, owned = false) {
  const errors: { error: unknown; subject?: string }[] = [];
  const statuses: PubSubStatus[] = [];
  const pubsub = NatsPubSub.fromConnection(connection, {
    owned,
    onError: (error, subject) => errors.push({ error, subject }),
    drainTimeoutMs: 50,
  });
  pubsub.onStatus((status) => statuses.push(status));
  return { pubsub, errors, statuses };
}

describe('NatsPubSub', () => {
  it('rejects something that is not a NATS connection, naming the option', () => {
    expect(() => NatsPubSub.fromConnection({} as NatsConnectionLike)).toThrow(InvalidOptionError);
    expect(() => NatsPubSub.fromConnection({} as NatsConnectionLike)).toThrow(/invalid option connection/);
  });

  it('passes the queue group to the client and delivers subject and bytes to the handler', () => {
    const connection = new FakeConnection();
    const { pubsub } = adapter(connection);
    const received: string[] = [];

    pubsub.subscribe('orders', { queue: 'workers' }, (subject, data) => received.push(`${subject}:${new TextDecoder().decode(data)}`));
    connection.deliver('orders', 'one');

    expect(connection.subscriptions[0]).toMatchObject({ subject: 'orders', queue: 'workers' });
    expect(received).toEqual(['orders:one']);
  });

  it('runs an afterInput task once, after every message read in this turn and after their microtasks', async () => {
    const connection = new FakeConnection();
    const { pubsub } = adapter(connection);
    const seen: string[] = [];
    pubsub.subscribe('orders', {}, (_subject, data) => {
      const text = new TextDecoder().decode(data);
      seen.push(text);
      void Promise.resolve().then(() => seen.push(`${text} microtask`));
      if (text === 'one') pubsub.afterInput!(() => seen.push('task'));
    });
    const turnEnded = new Promise<void>((resolve) => setImmediate(resolve));
    connection.deliver('orders', 'one');
    connection.deliver('orders', 'two');
    await settle();
    expect(seen).toEqual(['one', 'two', 'one microtask', 'two microtask']);
    await turnEnded;
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(seen).toEqual(['one', 'two', 'one microtask', 'two microtask', 'task']);
  });

  it('passes a literal subscription its own subject without reading the message subject, a wildcard one the message subject', () => {
    const connection = new FakeConnection();
    const { pubsub } = adapter(connection);
    const received: string[] = [];
    let subjectReads = 0;
    const message = (subject: string) => ({
      get subject() {
        subjectReads++;
        return subject;
      },
      data: new Uint8Array([1]),
    });
    pubsub.subscribe('flow.node.00ff', {}, (subject) => received.push(subject));
    pubsub.subscribe('orders.*', {}, (subject) => received.push(subject));
    pubsub.subscribe('audit.>', {}, (subject) => received.push(subject));
    pubsub.subscribe('a*b.c>', {}, (subject) => received.push(subject));

    connection.subscriptions[0]!.callback(null, message('flow.node.00ff'));
    expect(subjectReads).toBe(0);
    connection.subscriptions[1]!.callback(null, message('orders.eu'));
    connection.subscriptions[2]!.callback(null, message('audit.x.y'));
    expect(subjectReads).toBe(2);
    connection.subscriptions[3]!.callback(null, message('a*b.c>'));
    expect(subjectReads).toBe(2);
    expect(received).toEqual(['flow.node.00ff', 'orders.eu', 'audit.x.y', 'a*b.c>']);
  });

  it('publishes headers as NATS headers, and without any when none are given', () => {
    const connection = new FakeConnection();
    const { pubsub } = adapter(connection);

    pubsub.publish('orders', new Uint8Array([1]), { traceparent: 'tp', tracestate: 'a=b' });
    pubsub.publish('orders', new Uint8Array([2]));

    const [withHeaders, without] = connection.published;
    expect(withHeaders.headers?.get('traceparent')).toBe('tp');
    expect(withHeaders.headers?.get('tracestate')).toBe('a=b');
    expect(without).toEqual({ subject: 'orders', payload: new Uint8Array([2]) });
  });

  it('counts headers against max_payload as the bytes nats.js writes for them, in UTF-8 (names are ASCII: nats.js refuses others)', () => {
    const cases: Record<string, string>[] = [{ k: 'v' }, { traceparent: '00-abc', tracestate: 'a=b' }, { k: 'é' }, { k: '日本' }, { k: '😀' }, { 'x-k': 'zß' }];
    for (const record of cases) {
      const encoded = natsHeaders();
      for (const [name, value] of Object.entries(record)) encoded.set(name, value);
      // What the client writes before the data (MsgHdrsImpl.encode; the public type leaves it out).
      const written = (encoded as unknown as { encode(): Uint8Array }).encode().length;
      expect({ record, bytes: headerBytes(record) }).toEqual({ record, bytes: written });
    }
  });

  it('hands received NATS headers to the handler as a record, and undefined without headers', () => {
    const connection = new FakeConnection();
    const { pubsub } = adapter(connection);
    const received: unknown[] = [];
    pubsub.subscribe('orders', {}, (_subject, _data, headers) => received.push(headers));
    const headers = natsHeaders();
    headers.set('traceparent', 'tp');

    connection.deliver('orders', 'one', headers);
    connection.deliver('orders', 'two');
    connection.deliver('orders', 'three', natsHeaders());

    expect(received).toEqual([{ traceparent: 'tp' }, undefined, undefined]);
  });

  it('reports a handler exception with its subject and keeps the subscription', () => {
    const connection = new FakeConnection();
    const { pubsub, errors } = adapter(connection);
    const failure = new Error('boom');
    let calls = 0;
    pubsub.subscribe('orders', {}, () => {
      calls++;
      throw failure;
    });

    expect(() => connection.deliver('orders', 'a')).not.toThrow();
    connection.deliver('orders', 'b');

    expect(calls).toBe(2);
    expect(errors).toEqual([
      { error: failure, subject: 'orders' },
      { error: failure, subject: 'orders' },
    ]);
  });

  it('reports an error the client hands to a subscription callback as a TransportError', () => {
    const connection = new FakeConnection();
    const { pubsub, errors } = adapter(connection);
    pubsub.subscribe('secret', {}, () => undefined);

    connection.subscriptions[0]!.callback(new Error('Permissions Violation'), { subject: 'secret', data: new Uint8Array() });

    expect(errors[0]!.error).toBeInstanceOf(TransportError);
    expect((errors[0]!.error as Error).message).toContain('Permissions Violation');
    expect(errors[0]!.subject).toBe('secret');
  });

  it('survives an onError that throws', () => {
    const connection = new FakeConnection();
    const pubsub = NatsPubSub.fromConnection(connection, {
      onError: () => {
        throw new Error('bad reporter');
      },
    });
    pubsub.subscribe('orders', {}, () => {
      throw new Error('boom');
    });

    expect(() => connection.deliver('orders', 'a')).not.toThrow();
  });

  it('turns a client publish failure into a TransportError that names the subject', () => {
    const connection = new FakeConnection();
    const { pubsub } = adapter(connection);
    connection.publishError = new Error('maximum payload exceeded');

    expect(() => pubsub.publish('big', new Uint8Array(1))).toThrow(TransportError);
    expect(() => pubsub.publish('big', new Uint8Array(1))).toThrow(/cannot publish on "big": maximum payload exceeded/);
  });

  it('turns a publish on a closed connection into a ClosedError', async () => {
    const connection = new FakeConnection();
    const { pubsub } = adapter(connection);
    await connection.close();

    expect(() => pubsub.publish('late', new Uint8Array(1))).toThrow(ClosedError);
  });

  it.each([
    ['disconnect', 'disconnected'],
    ['reconnecting', 'reconnecting'],
    ['reconnect', 'reconnected'],
  ] as const)('maps the client status "%s" to "%s"', async (type, expected) => {
    const connection = new FakeConnection();
    const { statuses } = adapter(connection);

    connection.emitStatus({ type, data: '127.0.0.1:4222' });
    await settle();

    expect(statuses).toEqual([expected]);
  });

  it('ignores client events the port has no name for', async () => {
    const connection = new FakeConnection();
    const { statuses, errors } = adapter(connection);

    connection.emitStatus({ type: 'pingTimer', data: 1 });
    connection.emitStatus({ type: 'update', data: {} });
    await settle();

    expect(statuses).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('reports an asynchronous server error through onError, in the v2 and v3 shapes', async () => {
    const connection = new FakeConnection();
    const { errors } = adapter(connection);

    connection.emitStatus({ type: 'error', data: "'Permissions Violation for Publish to \"x\"'" });
    connection.emitStatus({ type: 'error', error: new Error('Authorization Violation') });
    await settle();

    expect(errors.map((e) => (e.error as Error).message)).toEqual([
      'NATS server reported: \'Permissions Violation for Publish to "x"\'',
      'NATS server reported: Authorization Violation',
    ]);
  });

  describe('a publish the server refuses (permissions violation)', () => {
    /** The status event of a refused publish on `subject`, as nats v2 and v3 report it. */
    const refusal = {
      v2: (subject: string): NatsStatusLike => ({
        type: 'error',
        data: 'PERMISSIONS_VIOLATION',
        permissionContext: { operation: 'publish', subject, queue: undefined },
      }),
      v3: (subject: string): NatsStatusLike => ({
        type: 'error',
        error: Object.assign(new Error(`Permissions Violation for Publish to "${subject}"`), {
          name: 'PermissionViolationError',
          operation: 'publish',
          subject,
        }),
      }),
    };

    it.each(['v2', 'v3'] as const)('fails the requests on its subject that asked, not others, and reports nothing itself (%s)', async (shape) => {
      const connection = new FakeConnection();
      const { pubsub, errors } = adapter(connection);
      const heard: string[] = [];
      pubsub.publishRequest('view', new Uint8Array([1]), () => heard.push('no responders 1'), undefined, (error) => heard.push(`refused 1: ${error.code} ${error.message}`));
      pubsub.publishRequest('view', new Uint8Array([2]), () => heard.push('no responders 2'), undefined, (error) => heard.push(`refused 2: ${error.code}`));
      pubsub.publishRequest('other', new Uint8Array([3]), () => heard.push('no responders 3'), undefined, () => heard.push('refused 3'));
      const stopped = pubsub.publishRequest('view', new Uint8Array([4]), () => heard.push('no responders 4'), undefined, () => heard.push('refused 4'));
      stopped();

      connection.emitStatus(refusal[shape]('view'));
      await settle();

      expect(heard).toEqual([
        'refused 1: FLOW_TRANSPORT the NATS server refused to publish on "view" (permissions violation): nothing was delivered',
        'refused 2: FLOW_TRANSPORT',
      ]);
      expect(errors).toEqual([]);
      // Told once: a later no-responders status for the same requests is not passed on.
      const inbox = connection.subscriptions.find((sub) => sub.subject.endsWith('.*'))!;
      for (const { reply } of connection.published) {
        inbox.callback(null, { subject: reply!, data: new Uint8Array(0), headers: { code: 503 } as unknown as NatsHeadersLike });
      }
      expect(heard.slice(2)).toEqual(['no responders 3']);
    });

    it('goes to onError when no request asked, naming the subject, once at first per subject', async () => {
      const connection = new FakeConnection();
      const { pubsub, errors } = adapter(connection);
      pubsub.publish('orders', new Uint8Array([1]));
      // A request that did not ask about refusals hears nothing of it either.
      const heard: string[] = [];
      pubsub.publishRequest('orders', new Uint8Array([2]), () => heard.push('no responders'));

      connection.emitStatus(refusal.v2('orders'));
      connection.emitStatus(refusal.v3('orders'));
      connection.emitStatus(refusal.v2('payments'));
      await settle();

      expect(heard).toEqual([]);
      expect(errors.map((e) => [(e.error as TransportError).code, (e.error as Error).message])).toEqual([
        ['FLOW_TRANSPORT', 'the NATS server refused to publish on "orders" (permissions violation): nothing was delivered'],
        ['FLOW_TRANSPORT', 'the NATS server refused to publish on "payments" (permissions violation): nothing was delivered'],
      ]);
      await closeWithFakeClock(pubsub);
      // close() reports what was held back: the second refusal on "orders", as a summary.
      expect(errors).toHaveLength(3);
      expect((errors[2]!.error as Error).message).toContain('"orders"');
    });

    it('leaves a refused subscription to the subscription, which reports it', async () => {
      const connection = new FakeConnection();
      const { pubsub, errors } = adapter(connection);
      pubsub.subscribe('secret', {}, () => undefined);

      const violation = Object.assign(new Error('Permissions Violation for Subscription to "secret"'), { code: 'PERMISSIONS_VIOLATION' });
      connection.emitStatus({ type: 'error', data: 'PERMISSIONS_VIOLATION', permissionContext: { operation: 'subscription', subject: 'secret' } });
      connection.subscriptions[0]!.callback(violation as never, {} as never);
      await settle();

      expect(errors.map((e) => (e.error as Error).message)).toEqual([
        'subscription on "secret" failed: Permissions Violation for Subscription to "secret"',
      ]);
    });
  });

  it('reports "closed" once when the client reports close and closed() resolves', async () => {
    const connection = new FakeConnection();
    const { statuses } = adapter(connection);

    connection.emitStatus({ type: 'close' });
    await connection.close();
    await settle();

    expect(statuses).toEqual(['closed']);
  });

  it('does not close a connection it does not own, and stops listening to its status', async () => {
    const connection = new FakeConnection();
    const { pubsub, statuses } = adapter(connection);
    pubsub.subscribe('orders', {}, () => undefined);

    await pubsub.close();
    connection.emitStatus({ type: 'disconnect' });
    await settle();

    expect(connection.isClosed()).toBe(false);
    expect(connection.subscriptions[0]!.sub.isClosed()).toBe(true);
    expect(connection.activeStatusIterators).toBe(0);
    expect(statuses).toEqual(['closed']);
  });

  it('closes a connection it owns', async () => {
    const connection = new FakeConnection();
    const { pubsub } = adapter(connection, true);

    await pubsub.close();

    expect(connection.isClosed()).toBe(true);
  });

  it('gives up a drain after drainTimeoutMs, reports the timeout and closes anyway', async () => {
    const connection = new FakeConnection();
    connection.drainForever = true;
    const { pubsub, errors, statuses } = adapter(connection, true);

    await closeWithFakeClock(pubsub);

    expect(errors.map((e) => e.error)).toEqual([expect.any(TimeoutError)]);
    expect(connection.isClosed()).toBe(true);
    expect(statuses).toEqual(['closed']);
  });

  it('unsubscribes a subscription whose drain does not finish in time', async () => {
    const connection = new FakeConnection();
    connection.drainForever = true;
    const { pubsub } = adapter(connection);
    pubsub.subscribe('orders', {}, () => undefined);

    await closeWithFakeClock(pubsub);

    expect(connection.subscriptions[0]!.sub.isClosed()).toBe(true);
    expect(connection.isClosed()).toBe(false);
  });

  it('stops listeners that were removed', async () => {
    const connection = new FakeConnection();
    const pubsub = NatsPubSub.fromConnection(connection, { onError: () => undefined });
    const seen: PubSubStatus[] = [];
    const remove = pubsub.onStatus((status) => seen.push(status));

    remove();
    connection.emitStatus({ type: 'disconnect' });
    await settle();

    expect(seen).toEqual([]);
  });
});
