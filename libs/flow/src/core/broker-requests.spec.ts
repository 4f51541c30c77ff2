import { createMemoryClique, MemoryClique } from '../testing/clique';
import { ManualClock } from '../testing/manual-clock';
import { waitFor } from '../testing/wait-for';
import { Broker } from './broker';
import {
  AbortedError,
  ClosedError,
  FlowError,
  InvalidOptionError,
  OverloadedError,
  RemoteError,
  TimeoutError,
} from './errors';
import { MemoryBus } from './memory-pubsub';
import { BrokerOptions } from './options';
import { rejection } from '../../test/rejection';
import { fromUtf8 } from '../../test/sequence';

const utf8 = new TextEncoder();

/** Whether `promise` has settled, without waiting for it. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  const marker = Symbol('pending');
  const result = await Promise.race([promise.then(() => 'done', () => 'done'), Promise.resolve(marker)]);
  return result !== marker;
}

const never = (): Promise<Uint8Array> => new Promise<Uint8Array>(() => undefined);

describe('broker requests', () => {
  let clique: MemoryClique | undefined;
  let clock: ManualClock;
  afterEach(async () => {
    await clique?.close();
    clique = undefined;
  });

  /**
   * `handlers` brokers that run `setup`, then one publisher-only broker (the
   * requester), all on one manual clock: no timer fires unless a test says so.
   */
  async function requestClique(
    handlers: number,
    setup: (broker: Broker, index: number) => void | Promise<void>,
    extra: BrokerOptions = {},
    bus?: MemoryBus,
  ): Promise<{ brokers: readonly Broker[]; requester: Broker }> {
    clock = new ManualClock();
    clique = await createMemoryClique({
      size: handlers + 1,
      bus,
      options: { virtualNodes: 4, stabilization: { interval: 0 }, clock, ...extra },
      setup: (broker, i) => (i < handlers ? setup(broker, i) : undefined),
    });
    await clique.converged();
    return { brokers: clique.brokers.slice(0, handlers), requester: clique.brokers[handlers] };
  }

  it('answers a request from the owner of its key', async () => {
    const { brokers, requester } = await requestClique(3, (broker, i) =>
      broker.handleRequest('quote', (d) => utf8.encode(`${i} ${d.owner} ${fromUtf8(d.data)} ${d.request}`)),
    );
    for (let n = 0; n < 30; n++) {
      const key = `customer-${n}`;
      const reply = fromUtf8(await requester.request('quote', utf8.encode(`q${n}`), { key }));
      const [index, owner, data, request] = reply.split(' ');
      expect(owner).toBe(String(brokers[0].ownerOf(key)));
      expect(brokers[Number(index)].snapshot().positions.map(String)).toContain(owner);
      expect([data, request]).toEqual([`q${n}`, 'true']);
    }
  });

  it('answers a reply too large for the transport with FLOW_TRANSPORT at once, instead of leaving the requester to time out', async () => {
    const errors: FlowError[] = [];
    const { requester } = await requestClique(
      2,
      (broker) => broker.handleRequest('sizes', (d) => new Uint8Array(Number(fromUtf8(d.data)))),
      { onError: (error) => void errors.push(error) },
      new MemoryBus({ maxPayload: 1024 }),
    );
    expect(await requester.request('sizes', utf8.encode('900'), { key: 'k' })).toHaveLength(900);
    // No timer runs on the manual clock: only an answer settles it. An ACK frame is 12 + 8 bytes and the reply.
    const error = await rejection(requester.request('sizes', utf8.encode('2000'), { key: 'k' }));
    expect(error).toMatchObject({ code: 'FLOW_TRANSPORT', message: expect.stringContaining('reply of stream "sizes" is 2020 bytes as a frame, above the max payload of 1024') });
    expect(errors).toEqual([expect.objectContaining({ name: 'TransportError', message: expect.stringContaining('reply of stream "sizes"') })]);
  });

  it('answers an unkeyed request on whichever broker receives it', async () => {
    const { requester } = await requestClique(2, (broker) => broker.handleRequest('echo', (d) => d.data));
    const reply = await requester.request('echo', utf8.encode('ping'));
    expect(fromUtf8(reply)).toBe('ping');
  });

  it('accepts a request from a member broker, too', async () => {
    const { brokers } = await requestClique(3, (broker) => broker.handleRequest('echo', async (d) => d.data));
    const replies = await Promise.all(
      brokers.map((b, i) => b.request('echo', utf8.encode(`from ${i}`), { key: `k${i}` }).then(fromUtf8)),
    );
    expect(replies).toEqual(['from 0', 'from 1', 'from 2']);
  });

  it('rejects with a RemoteError carrying the handler’s code, message and details, not a timeout', async () => {
    const { brokers, requester } = await requestClique(3, (broker) =>
      broker.handleRequest('debit', () => {
        throw Object.assign(new Error('insufficient funds'), { code: 'LEDGER_FUNDS', details: { balance: 5, needed: 7 } });
      }),
    );
    const error = await rejection(requester.request('debit', utf8.encode('7'), { key: 'account-1' }));

    expect(error).toBeInstanceOf(RemoteError);
    expect(error).toMatchObject({
      code: 'LEDGER_FUNDS',
      message: 'insufficient funds',
      details: { balance: 5, needed: 7 },
      stream: 'debit',
    });
    expect(clock.now()).toBe(0);
    expect(brokers.reduce((n, b) => n + b.counters.failed, 0)).toBe(1);
  });

  it('gives an error without a code FLOW_REMOTE, and carries a rejected promise’s error too', async () => {
    const { requester } = await requestClique(2, (broker) =>
      broker.handleRequest('debit', async (d) => {
        if (fromUtf8(d.data) === 'plain') throw new Error('no code here');
        throw Object.assign(new Error('bad amount'), { code: 'VALIDATION', details: ['amount must be positive'] });
      }),
    );
    const plain = await rejection(requester.request('debit', utf8.encode('plain'), { key: 'a' }));
    expect(plain).toMatchObject({ code: 'FLOW_REMOTE', message: 'no code here', details: undefined });
    const validation = await rejection(requester.request('debit', utf8.encode('x'), { key: 'b' }));
    expect(validation).toMatchObject({ code: 'VALIDATION', details: ['amount must be positive'] });
  });

  it('times out with FLOW_TIMEOUT when the handler never answers, at the timeout and not before', async () => {
    const { requester } = await requestClique(2, (broker) => broker.handleRequest('slow', never));
    const pending = requester.request('slow', utf8.encode('x'), { key: 'k', timeout: 200 });
    const error = rejection(pending);
    await clique!.bus.idle();
    clock.advance(199);
    expect(await settled(pending)).toBe(false);

    clock.advance(1);
    expect(await error).toBeInstanceOf(TimeoutError);
    expect(await error).toMatchObject({ code: 'FLOW_TIMEOUT', timeoutMs: 200, stream: 'slow' });
  });

  it('uses the requestTimeout option when the request names no timeout', async () => {
    const { requester } = await requestClique(1, (broker) => broker.handleRequest('slow', never), { requestTimeout: 300 });
    const error = rejection(requester.request('slow', utf8.encode('x')));
    await clique!.bus.idle();
    clock.advance(300);
    expect(await error).toMatchObject({ code: 'FLOW_TIMEOUT', timeoutMs: 300 });
  });

  it('ignores a reply that arrives after the request timed out', async () => {
    let release!: (reply: Uint8Array) => void;
    const { requester } = await requestClique(1, (broker) =>
      broker.handleRequest('slow', () => new Promise<Uint8Array>((resolve) => (release = resolve))),
    );
    const errors: FlowError[] = [];
    requester.on('error', (e) => errors.push(e));
    const error = rejection(requester.request('slow', utf8.encode('x'), { timeout: 50 }));
    await clique!.bus.idle();
    clock.advance(50);
    expect(await error).toBeInstanceOf(TimeoutError);

    release(utf8.encode('late'));
    await waitFor(() => clique!.brokers[0].counters.handled === 1, { bus: clique!.bus });
    expect(errors).toEqual([]);
  });

  it('rejects with FLOW_ABORTED when the signal aborts while the request is pending', async () => {
    const { requester } = await requestClique(2, (broker) => broker.handleRequest('slow', never));
    const controller = new AbortController();
    const error = rejection(requester.request('slow', utf8.encode('x'), { key: 'k', signal: controller.signal }));
    await clique!.bus.idle();
    controller.abort(new Error('user left'));

    expect(await error).toBeInstanceOf(AbortedError);
    expect(await error).toMatchObject({ code: 'FLOW_ABORTED' });
    expect((await error).cause).toEqual(new Error('user left'));
  });

  it('rejects at once, publishing nothing, when the signal is already aborted', async () => {
    const { requester } = await requestClique(1, (broker) => broker.handleRequest('echo', (d) => d.data));
    const published = clique!.bus.stats.published;
    const error = await rejection(requester.request('echo', utf8.encode('x'), { signal: AbortSignal.abort() }));
    expect(error).toMatchObject({ code: 'FLOW_ABORTED' });
    expect(clique!.bus.stats.published).toBe(published);
  });

  it('rejects pending requests with FLOW_CLOSED when the requester closes', async () => {
    const { requester } = await requestClique(2, (broker) => broker.handleRequest('slow', never));
    const errors = [1, 2, 3].map((n) => rejection(requester.request('slow', utf8.encode('x'), { key: `k${n}` })));
    await clique!.bus.idle();
    await requester.close();

    for (const error of await Promise.all(errors)) {
      expect(error).toBeInstanceOf(ClosedError);
      expect(error.code).toBe('FLOW_CLOSED');
    }
    expect(await rejection(requester.request('slow', utf8.encode('x')))).toMatchObject({ code: 'FLOW_CLOSED' });
  });

  it('refuses a request on a stream that no broker handles at once (the bus has no responders), without waiting for its timeout', async () => {
    const { requester } = await requestClique(2, (broker) => broker.handleRequest('quote', (d) => d.data));
    const error = rejection(requester.request('nobody-listens', utf8.encode('x'), { key: 'k', timeout: 100 }));
    await clique!.bus.idle();
    expect(await error).toMatchObject({ code: 'FLOW_NO_HANDLER', message: expect.stringContaining('"nobody-listens"') });
  });

  it('answers FLOW_NO_HANDLER when the owner of the key lacks the request handler', async () => {
    // Broker 0 takes 'quote' from the stream and forwards it; broker 1 owns the key but handles only 'orders'.
    const { brokers, requester } = await requestClique(2, (broker, i) =>
      i === 0 ? broker.handleRequest('quote', (d) => d.data) : broker.handle('orders', () => undefined),
    );
    const ownedBy1 = new Set(brokers[1].snapshot().positions.map(String));
    const key = Array.from({ length: 200 }, (_, n) => `customer-${n}`).find((k) => ownedBy1.has(String(brokers[0].ownerOf(k))))!;
    const errors: FlowError[] = [];
    brokers[1].on('error', (e) => errors.push(e));

    const error = await rejection(requester.request('quote', utf8.encode('x'), { key, timeout: 100 }));

    expect(error).toBeInstanceOf(RemoteError);
    expect(error).toMatchObject({ code: 'FLOW_NO_HANDLER', stream: 'quote' });
    expect(error.message).toContain('quote');
    expect(clock.now()).toBe(0);
    expect(brokers[1].counters.dropped).toBe(1);
    expect(errors.map((e) => e.code)).toEqual(['FLOW_NO_HANDLER']);
  });

  it('refuses a request beyond maxPendingRequests with an OverloadedError', async () => {
    const { requester } = await requestClique(1, (broker) => broker.handleRequest('slow', never), {
      maxPendingRequests: 2,
    });
    let sent = 0;
    clique!.bus.setFault((delivery) => {
      if (delivery.subject === 'slow') sent++;
      return 'deliver';
    });
    const first = rejection(requester.request('slow', utf8.encode('1')));
    const second = rejection(requester.request('slow', utf8.encode('2')));
    const third = await rejection(requester.request('slow', utf8.encode('3')));

    expect(third).toBeInstanceOf(OverloadedError);
    expect(third).toMatchObject({ code: 'FLOW_OVERLOADED', limit: 'maxPendingRequests', max: 2 });
    await clique!.bus.idle();
    // The refused request never reached the wire: no handler runs for an id nobody awaits.
    expect(sent).toBe(2);
    clock.advance(1000);
    expect((await first).code).toBe('FLOW_TIMEOUT');
    expect((await second).code).toBe('FLOW_TIMEOUT');
  });

  it('sends a keyed request beyond maxPendingRequests to nobody: refused, it runs nowhere', async () => {
    // Before, the queue-group path sent nothing for it, but a keyed one went to its owner direct and ran.
    const started: string[] = [];
    const { requester } = await requestClique(
      2,
      (broker) =>
        broker.handleRequest('slow', (d) => {
          started.push(fromUtf8(d.data));
          return never();
        }),
      { maxPendingRequests: 2 },
    );
    const first = rejection(requester.request('slow', utf8.encode('1'), { key: 'a' }));
    const second = rejection(requester.request('slow', utf8.encode('2'), { key: 'b' }));
    const third = await rejection(requester.request('slow', utf8.encode('3'), { key: 'c' }));
    await clique!.bus.idle();

    expect(third).toMatchObject({ code: 'FLOW_OVERLOADED', limit: 'maxPendingRequests' });
    expect(started.sort()).toEqual(['1', '2']);
    expect(requester.counters.viaQueueGroup).toBe(0);
    clock.advance(1000);
    expect((await first).code).toBe('FLOW_TIMEOUT');
    expect((await second).code).toBe('FLOW_TIMEOUT');
  });

  it('rejects an invalid timeout, and a request before start', async () => {
    const { requester } = await requestClique(1, (broker) => broker.handleRequest('echo', (d) => d.data));
    expect(await rejection(requester.request('echo', utf8.encode('x'), { timeout: 0 }))).toBeInstanceOf(InvalidOptionError);
    expect(await rejection(requester.request('echo', utf8.encode('x'), { timeout: 1.5 }))).toMatchObject({ option: 'timeout' });
    expect(await rejection(requester.request('', utf8.encode('x')))).toMatchObject({ option: 'stream' });
    const unstarted = new Broker(clique!.bus.connect(), { clock });
    expect(await rejection(unstarted.request('echo', utf8.encode('x')))).toMatchObject({ code: 'FLOW_CLOSED' });
  });
});
