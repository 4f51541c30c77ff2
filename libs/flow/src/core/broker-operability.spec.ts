import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { encodeFrame, FrameType } from './frame';
import { createMemoryClique, MemoryClique } from '../testing/clique';
import { ManualClock } from '../testing/manual-clock';
import { waitFor } from '../testing/wait-for';
import { Broker } from './broker';
import { DefaultCodec } from './codec';
import { FlowError } from './errors';
import { BrokerOptions } from './options';
import { rejection } from '../../test/rejection';
import { fromUtf8 } from '../../test/sequence';

const utf8 = new TextEncoder();

describe('broker: fast errors and the transport being down', () => {
  let clique: MemoryClique | undefined;
  let clock: ManualClock;
  const errors: FlowError[] = [];
  const received: string[] = [];
  afterEach(async () => {
    await clique?.close();
    clique = undefined;
    errors.length = 0;
    received.length = 0;
  });

  /** Broker 0 handles message stream `events` and request stream `echo`; broker 1 is a publisher. */
  async function twoBrokers(options: BrokerOptions = {}): Promise<{ handler: Broker; publisher: Broker }> {
    clock = new ManualClock();
    clique = await createMemoryClique({
      size: 2,
      options: { virtualNodes: 2, stabilization: { interval: 0 }, clock, onError: (e) => errors.push(e), ...options },
      setup: async (broker, i) => {
        if (i !== 0) return;
        await broker.handle('events', (d) => void received.push(fromUtf8(d.data)));
        await broker.handleRequest('echo', (d) => d.data);
      },
    });
    return { handler: clique.brokers[0], publisher: clique.brokers[1] };
  }

  it('counts a message whose handler returns null (plain JavaScript) as handled, and runs the next one of its key', async () => {
    const seen: string[] = [];
    clique = await createMemoryClique({
      size: 2,
      options: { virtualNodes: 2, stabilization: { interval: 0 }, onError: (e) => errors.push(e) },
      setup: (broker, i) =>
        i === 0
          ? broker.handle('events', ((d: { data: Uint8Array }) => {
              seen.push(fromUtf8(d.data));
              return null;
            }) as unknown as Parameters<Broker['handle']>[1])
          : undefined,
    });
    const [handler, publisher] = clique.brokers;
    await publisher.publish('events', utf8.encode('first'), { key: 'k' });
    await publisher.publish('events', utf8.encode('second'), { key: 'k' });
    await waitFor(() => handler.counters.handled === 2, { what: 'both handled' });
    expect(seen).toEqual(['first', 'second']);
    expect(handler.counters.failed).toBe(0);
    expect(errors).toEqual([]);
  });

  it('fails a request on a stream nobody handles with FLOW_NO_HANDLER, without any timer firing', async () => {
    const { publisher } = await twoBrokers();
    const error = await rejection(publisher.request('no.such.stream', utf8.encode('x'), { key: 'k' }));
    expect(error.code).toBe('FLOW_NO_HANDLER');
    expect(error.message).toContain('"no.such.stream"');
    expect(clock.now()).toBe(0);
  });

  it('answers a request sent to a message stream at once with an error naming the mismatch', async () => {
    const { publisher, handler } = await twoBrokers();
    const error = await rejection(publisher.request('events', utf8.encode('x'), { key: 'k' }));
    expect(error.code).toBe('FLOW_NO_HANDLER');
    expect(error.message).toContain('stream "events" has a message (event) handler, not a request handler');
    expect(clock.now()).toBe(0);
    expect(handler.counters.dropped).toBe(1);
    expect(errors.some((e) => e.code === 'FLOW_CODEC')).toBe(false);
  });

  it('counts and reports a plain message on a request stream as such', async () => {
    const { publisher, handler } = await twoBrokers();
    await publisher.publish('echo', utf8.encode('event'), { key: 'k' });
    await waitFor(() => handler.counters.malformed === 1, { bus: clique!.bus, what: 'malformed count' });
    const report = errors.find((e) => e.code === 'FLOW_PROTOCOL');
    expect(report?.message).toContain('a plain message (event) arrived on request stream "echo"');
  });

  it('still decodes a well-formed message and a well-formed request', async () => {
    const { publisher } = await twoBrokers();
    await publisher.publish('events', utf8.encode('a'), { key: 'k' });
    expect(fromUtf8(await publisher.request('echo', utf8.encode('b'), { key: 'k' }))).toBe('b');
    await waitFor(() => received.length === 1, { bus: clique!.bus, what: 'the event' });
    expect(received).toEqual(['a']);
  });

  it('rejects publish() and request() with FLOW_TRANSPORT while disconnected, and works again after reconnecting', async () => {
    const { publisher } = await twoBrokers();
    const connection = clique!.connections[1];
    connection.disconnect();
    const published = await rejection(publisher.publish('events', utf8.encode('lost?'), { key: 'k' }));
    expect(published.code).toBe('FLOW_TRANSPORT');
    expect(published.name).toBe('TransportError');
    // Rejected, not sent through the queue group: flow_publishes_via_queue_group_total does not count it.
    expect(publisher.counters.viaQueueGroup).toBe(0);
    const requested = await rejection(publisher.request('echo', utf8.encode('x'), { key: 'k' }));
    expect(requested.code).toBe('FLOW_TRANSPORT');
    connection.reconnect();
    await publisher.publish('events', utf8.encode('after'), { key: 'k' });
    expect(fromUtf8(await publisher.request('echo', utf8.encode('y'), { key: 'k' }))).toBe('y');
    await waitFor(() => received.length === 1, { bus: clique!.bus, what: 'the event' });
    expect(received).toEqual(['after']);
  });

  it('with reconnectBuffer, holds messages through a reconnect, in order, and rejects beyond the bound', async () => {
    const { publisher } = await twoBrokers({ reconnectBuffer: 2 });
    const connection = clique!.connections[1];
    connection.disconnect();
    let resolved = 0;
    const held = ['one', 'two'].map((m) => publisher.publish('events', utf8.encode(m), { key: 'k' }).then(() => resolved++));
    const beyond = await rejection(publisher.publish('events', utf8.encode('three'), { key: 'k' }));
    expect(beyond.code).toBe('FLOW_OVERLOADED');
    expect(beyond.message).toContain('reconnectBuffer');
    // The two held go through the queue group once back (the transport was down: not direct); the third does not go.
    expect(publisher.counters.viaQueueGroup).toBe(2);
    expect((await rejection(publisher.request('echo', utf8.encode('x'), { key: 'k' }))).code).toBe('FLOW_TRANSPORT');
    await clique!.bus.idle();
    expect(resolved).toBe(0);
    connection.reconnect();
    await Promise.all(held);
    await waitFor(() => received.length === 2, { bus: clique!.bus, what: 'held events' });
    expect(received).toEqual(['one', 'two']);
  });

  it('with reconnectBuffer, rejects held messages with FLOW_CLOSED when the broker closes first', async () => {
    const { publisher } = await twoBrokers({ reconnectBuffer: 5 });
    clique!.connections[1].disconnect();
    const held = publisher.publish('events', utf8.encode('one'), { key: 'k' });
    await publisher.close();
    expect((await rejection(held)).code).toBe('FLOW_CLOSED');
  });

  it('tells a frame-shaped request from a codec message only when the codec fails', () => {
    const codec = new DefaultCodec();
    const message = codec.encode({ stream: 'events', partitionKey: utf8.encode('k'), data: utf8.encode('x') });
    const request = encodeFrame({
      type: FrameType.Msg,
      msg: { id: 1, reply: '_global.0000000000000001', stream: 'events', partitionKey: utf8.encode('k'), data: utf8.encode('x') },
    });
    expect(() => codec.decode('events', message)).not.toThrow();
    expect(() => codec.decode('events', request)).toThrow();
  });
});

describe('a request in a script on the embedded bus', () => {
  // A child process compiles the script on a cold start: allow for it on a busy machine.
  jest.setTimeout(30_000);
  const script = join(__dirname, '..', '..', 'test', 'scripts', 'embedded-request.ts');
  const register = join(__dirname, '..', '..', '..', '..', 'test', 'support', 'ts-register.js');

  function run(mode: string): Promise<{ stdout: string; code: number | null }> {
    return new Promise((resolve, reject) => {
      const child = execFile(process.execPath, ['-r', register, script, mode], { timeout: 20_000 }, (error, stdout) => {
        if (error !== null && error.code === undefined) reject(error);
        else resolve({ stdout, code: child.exitCode });
      });
    });
  }

  it('settles with FLOW_NO_HANDLER when nobody handles the stream, before the process ends', async () => {
    const { stdout, code } = await run('no-handler');
    expect(stdout).toBe('rejected FLOW_NO_HANDLER\n');
    expect(code).toBe(0);
  });

  it('keeps the process alive until the timeout when the handler never answers', async () => {
    const { stdout } = await run('silent');
    expect(stdout).toBe('rejected FLOW_TIMEOUT\n');
  });
});
