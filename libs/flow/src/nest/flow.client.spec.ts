import { Controller, Inject } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import { MemoryBus } from '../core';
import { FlowContext } from './flow.context';
import { FlowRecord } from './flow-record';
import { closeAll, FlowTestApp, Gate, RECORDER, Recorder, startFlowApp, startFlowApps } from '../../test/flow-apps';
import { FlowDeserializer, FlowSerializer } from './flow.serializer';
import { RequestHandler, StreamHandler } from './stream-handler.decorator';

interface Seen {
  stream: string;
  payload: unknown;
  key: string;
}

const heldGate = new Gate();

@Controller()
class EchoController {
  constructor(@Inject(RECORDER) private readonly seen: Recorder<Seen>) {}

  @StreamHandler('events')
  event(@Payload() payload: unknown, @Ctx() ctx: FlowContext): void {
    this.seen.push({ stream: ctx.getStream(), payload, key: ctx.getPartitionKey() });
  }

  @StreamHandler('blobs', { raw: true })
  blob(@Payload() bytes: Uint8Array, @Ctx() ctx: FlowContext): void {
    this.seen.push({ stream: ctx.getStream(), payload: bytes, key: ctx.getPartitionKey() });
  }

  @RequestHandler('echo')
  echo(@Payload() payload: unknown): unknown {
    this.seen.push({ stream: 'echo', payload, key: '' });
    return payload;
  }

  /** Answers only once the spec opens the gate: a request to it can only time out. */
  @RequestHandler('held')
  async held(): Promise<string> {
    await heldGate.opened;
    return 'late';
  }

  @StreamHandler('reverse', { request: true, raw: true })
  reverse(@Payload() bytes: Uint8Array): Buffer {
    return Buffer.from([...bytes].reverse());
  }

  /** Replies with as many bytes as the request's first 4 (big-endian) say. */
  @StreamHandler('grow', { request: true, raw: true })
  grow(@Payload() bytes: Uint8Array): Buffer {
    return Buffer.alloc(Buffer.from(bytes).readUInt32BE(0));
  }
}

describe('FlowClient', () => {
  const bus = new MemoryBus();
  const seen = new Recorder<Seen>();
  let apps: FlowTestApp[];
  let publisher: FlowTestApp;

  beforeAll(async () => {
    apps = await startFlowApps(bus, { controllers: [EchoController], providers: [{ provide: RECORDER, useValue: seen }] }, [
      'echo-1',
      'echo-2',
    ]);
    publisher = await startFlowApp({ bus, name: 'publisher' });
  });

  afterAll(() => closeAll([...apps, publisher]));

  it('publishes on emit() even when nobody subscribes to the result (hot, as in Nest)', async () => {
    const before = seen.entries.length;
    publisher.client.emit('events', { n: 1 });
    const [entry] = (await seen.until(before + 1)).slice(before);
    expect(entry).toEqual({ stream: 'events', payload: { n: 1 }, key: '' });
  });

  it('flushes: once flush() resolves, what was published before it has been taken off the bus', async () => {
    const before = bus.stats.delivered;
    for (let n = 0; n < 20; n++) void publisher.client.publish('events', { n });
    await publisher.client.flush();
    // The embedded bus has dispatched the 20 publishes by then (their handling may still run).
    expect(bus.stats.delivered - before).toBeGreaterThanOrEqual(20);
  });

  it('sends nothing on send() until subscribed (cold), then emits the reply and completes', async () => {
    const before = seen.entries.length;
    const reply$ = publisher.client.send('echo', { n: 2 });
    await publisher.client.publish('events', { marker: true });
    await seen.until(before + 1);
    expect(seen.entries.slice(before).map((entry) => entry.stream)).toEqual(['events']);

    await expect(lastValueFrom(reply$)).resolves.toEqual({ n: 2 });
  });

  it('keys a FlowRecord message, and lets the publish() key override the record key', async () => {
    const before = seen.entries.length;
    await publisher.client.publish('events', new FlowRecord({ n: 3 }, { key: 'from-record' }));
    await publisher.client.publish('events', new FlowRecord({ n: 4 }, { key: 'from-record' }), { key: 'from-options' });
    const entries = (await seen.until(before + 2)).slice(before);
    expect(entries.map((entry) => entry.key).sort()).toEqual(['from-options', 'from-record']);
  });

  it('passes bytes through untouched both ways: raw handlers receive them, raw requests return them', async () => {
    const before = seen.entries.length;
    await publisher.client.publish('blobs', Buffer.from([0, 159, 255]), { key: 'blob' });
    const [entry] = (await seen.until(before + 1)).slice(before);
    expect(entry.payload).toBeInstanceOf(Uint8Array);
    expect([...(entry.payload as Uint8Array)]).toEqual([0, 159, 255]);

    const reply = await publisher.client.request<Uint8Array>('reverse', new Uint8Array([1, 2, 3]), { raw: true });
    expect([...reply]).toEqual([3, 2, 1]);
  });

  it('rejects a request with TimeoutError when the timeout passes before a reply', async () => {
    await expect(publisher.client.request('held', {}, { timeout: 20 })).rejects.toMatchObject({
      code: 'FLOW_TIMEOUT',
      message: 'request on stream "held" timed out after 20 ms',
    });
    heldGate.open();
  });

  it('rejects a request on a stream nobody handles with FLOW_NO_HANDLER, long before its timeout', async () => {
    const started = Date.now();
    await expect(publisher.client.request('nobody-serves-this', {}, { timeout: 60_000 })).rejects.toMatchObject({
      code: 'FLOW_NO_HANDLER',
      message: 'no broker handles stream "nobody-serves-this" (nobody subscribes to it)',
    });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('rejects a pattern that is not a stream name', async () => {
    await expect(lastValueFrom(publisher.client.emit({ cmd: 'x' }, {}))).rejects.toMatchObject({
      code: 'FLOW_INVALID_OPTION',
      option: 'pattern',
    });
  });

  it('shares the app broker and never closes it', async () => {
    expect(publisher.client.unwrap()).toBe(publisher.broker);
    publisher.client.close();
    await expect(publisher.client.request('echo', 'still open')).resolves.toBe('still open');
  });
});

describe('FlowClient with a custom serializer', () => {
  /** Upper-cases strings on the way out and tags them on the way in. */
  const serializer: FlowSerializer = { serialize: (value) => new TextEncoder().encode(String(value).toUpperCase()) };
  const deserializer: FlowDeserializer = { deserialize: (bytes) => `<${new TextDecoder().decode(bytes)}>` };

  it('uses the module serializer and deserializer for payloads and replies', async () => {
    const bus = new MemoryBus();
    const seen = new Recorder<Seen>();
    const options = { controllers: [EchoController], providers: [{ provide: RECORDER, useValue: seen }], flow: { serializer, deserializer } };
    const [server] = await startFlowApps(bus, options, ['custom-1']);
    try {
      // The handler receives "<HELLO>" and replies with it: serialized to "<HELLO>", deserialized to "<<HELLO>>".
      await expect(server.client.request('echo', 'hello')).resolves.toBe('<<HELLO>>');
      expect(seen.entries[0].payload).toBe('<HELLO>');
    } finally {
      await server.app.close();
    }
  });
});

describe('FlowClient on a transport with a max payload', () => {
  const bus = new MemoryBus({ maxPayload: 2048 });
  const seen = new Recorder<Seen>();
  let apps: FlowTestApp[];
  let publisher: FlowTestApp;

  beforeAll(async () => {
    apps = await startFlowApps(bus, { controllers: [EchoController], providers: [{ provide: RECORDER, useValue: seen }] }, ['mp-1', 'mp-2']);
    publisher = await startFlowApp({ bus, name: 'mp-publisher' });
  });

  afterAll(() => closeAll([...apps, publisher]));

  const refusal = { code: 'FLOW_TRANSPORT', message: expect.stringContaining('above the max payload of 2048') };

  it('rejects publish, emit, request and send of a payload too large for it at once, naming the limit', async () => {
    const large = { text: 'x'.repeat(3000) };
    await expect(publisher.client.publish('events', large, { key: 'k' })).rejects.toMatchObject(refusal);
    await expect(lastValueFrom(publisher.client.emit('events', large))).rejects.toMatchObject(refusal);
    // A timeout of an hour: only the refusal can settle it within the test's.
    await expect(publisher.client.request('echo', large, { key: 'k', timeout: 3_600_000 })).rejects.toMatchObject(refusal);
    await expect(lastValueFrom(publisher.client.send('echo', large))).rejects.toMatchObject(refusal);
    expect(seen.entries).toEqual([]);
    // What fits still goes.
    await expect(publisher.client.request('echo', { text: 'x'.repeat(1000) }, { key: 'k' })).resolves.toEqual({ text: 'x'.repeat(1000) });
  });

  it("answers a request whose reply is too large for it with FLOW_TRANSPORT, long before the request's timeout", async () => {
    const size = (n: number): Buffer => Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
    // An ACK frame is 20 bytes and the reply.
    await expect(publisher.client.request('grow', size(2028), { key: 'k', timeout: 3_600_000, raw: true })).resolves.toHaveLength(2028);
    await expect(publisher.client.request('grow', size(2029), { key: 'k', timeout: 3_600_000, raw: true })).rejects.toMatchObject({
      code: 'FLOW_TRANSPORT',
      message: expect.stringContaining('reply of stream "grow" is 2049 bytes as a frame, above the max payload of 2048'),
    });
  });
});
