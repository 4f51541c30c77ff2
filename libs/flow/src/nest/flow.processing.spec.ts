import { Controller, Inject } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { from, Observable, of } from 'rxjs';
import { ErrorCode, MemoryBus, RemoteError } from '../core';
import { closeAll, Gate, RECORDER, Recorder, startFlowApp, startFlowApps, type FlowTestApp } from '../../test/flow-apps';
import { FlowContext } from './flow.context';
import { JsonFlowDeserializer } from './flow.serializer';
import { RequestHandler, StreamHandler } from './stream-handler.decorator';

/**
 * How FlowServer runs a Nest handler per message: Nest's processing hooks
 * when set, Observable results (their last value), synchronous and
 * asynchronous deserializers. Without hooks the handler runs without the
 * hooks' wrapping (flow.server.ts #process); these specs pin what both paths do.
 */

const GATE = Symbol('GATE');

@Controller()
class ProcessingController {
  constructor(
    @Inject(RECORDER) private readonly recorder: Recorder<string>,
    @Inject(GATE) private readonly gate: Gate,
  ) {}

  @StreamHandler('steps')
  step(@Payload() payload: { step: string }, @Ctx() ctx: FlowContext): Observable<void> | void {
    if (payload.step !== 'held') {
      this.recorder.push(`handler ${payload.step} ${ctx.getStream()}`);
      return;
    }
    // Completes once the gate opens: the message counts as handled only then.
    return from(this.gate.opened.then(() => this.recorder.push('handler held done')));
  }

  @RequestHandler('last-value')
  lastValue(@Payload() payload: { values: number[] }): Observable<number> {
    this.recorder.push('handler last-value');
    return of(...payload.values);
  }

  @StreamHandler('keys')
  keys(@Ctx() ctx: FlowContext): void {
    this.recorder.push(`${ctx.getPartitionKey()} ${Buffer.from(ctx.getPartitionKeyBytes()).toString('hex')} ${ctx.getPartition()}`);
  }

  @RequestHandler('unserializable')
  unserializable(): { big: bigint } {
    return { big: 1n };
  }

  @RequestHandler('plain')
  plain(@Payload() payload: { echo: unknown }): unknown {
    return payload.echo;
  }
}

describe('FlowServer running a handler per message', () => {
  const bus = new MemoryBus();
  const recorder = new Recorder<string>();
  const gate = new Gate();
  let app: FlowTestApp;
  let publisher: FlowTestApp;

  beforeAll(async () => {
    const providers = [
      { provide: RECORDER, useValue: recorder },
      { provide: GATE, useValue: gate },
    ];
    [app] = await startFlowApps(bus, { controllers: [ProcessingController], providers }, ['processing-1']);
    publisher = await startFlowApp({ bus, name: 'publisher' });
  });

  afterAll(() => closeAll([app, publisher]));

  it('resolves a request to the last value of the Observable its handler returns', async () => {
    await expect(publisher.client.request('last-value', { values: [1, 2, 3] }, { key: 'k' })).resolves.toBe(3);
    await expect(publisher.client.request('last-value', { values: [] }, { key: 'k' })).resolves.toBeUndefined();
    await expect(publisher.client.request('plain', { echo: { a: 1 } }, { key: 'k' })).resolves.toEqual({ a: 1 });
  });

  it('runs the next message of a key only once the Observable of the previous one completed', async () => {
    const before = recorder.entries.length;
    await publisher.client.publish('steps', { step: 'held' }, { key: 'one-key' });
    await publisher.client.publish('steps', { step: 'after' }, { key: 'one-key' });
    await bus.idle();
    expect(recorder.entries.slice(before)).toEqual([]);
    gate.open();
    const entries = await recorder.until(before + 2);
    expect(entries.slice(before)).toEqual(['handler held done', 'handler after steps']);
  });

  it('sends a string partition key as its UTF-8 bytes: the same key, partition and owner as the bytes given directly', async () => {
    const key = 'ü-€-😀-1';
    const bytes = new TextEncoder().encode(key);
    const before = recorder.entries.length;
    await publisher.client.publish('keys', {}, { key });
    await publisher.client.publish('keys', {}, { key: bytes });
    const [fromText, fromBytes] = (await recorder.until(before + 2)).slice(before);
    const [text, hex, partition] = fromText!.split(' ');
    expect([text, hex]).toEqual([key, Buffer.from(bytes).toString('hex')]);
    expect(partition).toMatch(/^[0-9a-f]{16}$/);
    expect(fromBytes).toBe(fromText);
  });

  it('answers a request whose result the serializer cannot write with an error reply', async () => {
    const failure = await publisher.client.request('unserializable', {}, { key: 'k' }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(RemoteError);
    expect((failure as RemoteError).message).toMatch(/BigInt/);
  });

  it('rejects a request with FLOW_CLOSED once its app shuts down, without sending it', async () => {
    const leaving = await startFlowApp({ bus, name: 'leaving-publisher' });
    await expect(leaving.client.request('plain', { echo: 1 }, { key: 'k' })).resolves.toBe(1);
    const before = recorder.entries.length;
    const stopping = leaving.host.shutdown();
    await expect(leaving.client.request('last-value', { values: [1] }, { key: 'k' })).rejects.toMatchObject({ code: ErrorCode.Closed });
    await stopping;
    await leaving.app.close();
    await bus.idle();
    expect(recorder.entries.length).toBe(before);
  });

  it('wraps each run in the processing hooks once they are set: start, handler, end, with the FlowContext', async () => {
    const seen: string[] = [];
    app.server.setOnProcessingStartHook((transportId, context, done) => {
      seen.push(`start ${String(transportId)} ${(context as FlowContext).getStream()}`);
      return done();
    });
    app.server.setOnProcessingEndHook((_transportId, context) => {
      seen.push(`end ${(context as FlowContext).getStream()}`);
    });
    try {
      const before = recorder.entries.length;
      await publisher.client.publish('steps', { step: 'hooked' }, { key: 'k2' });
      await recorder.until(before + 1);
      await bus.idle();
      const reply = await publisher.client.request('last-value', { values: [7, 8] }, { key: 'k2' });

      expect(reply).toBe(8);
      expect(seen).toEqual([`start ${String(app.server.transportId)} steps`, 'end steps', `start ${String(app.server.transportId)} last-value`, 'end last-value']);
    } finally {
      app.server.setOnProcessingStartHook((_transportId, _context, done) => done());
      app.server.setOnProcessingEndHook(undefined as never);
    }
  });

  it('reports a start hook that throws as the handler failure, without running the handler', async () => {
    app.server.setOnProcessingStartHook(() => {
      throw new Error('hook broke');
    });
    try {
      const before = recorder.entries.length;
      const failure = await publisher.client.request('last-value', { values: [1] }, { key: 'k3' }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(RemoteError);
      expect((failure as RemoteError).message).toMatch(/hook broke/);
      expect(recorder.entries.length).toBe(before);
    } finally {
      app.server.setOnProcessingStartHook((_transportId, _context, done) => done());
    }
  });
});

describe('FlowServer with an asynchronous or failing deserializer', () => {
  const bus = new MemoryBus();
  const recorder = new Recorder<string>();
  let app: FlowTestApp;
  let publisher: FlowTestApp;
  const json = new JsonFlowDeserializer();

  beforeAll(async () => {
    const providers = [
      { provide: RECORDER, useValue: recorder },
      { provide: GATE, useValue: new Gate() },
    ];
    const deserializer = {
      deserialize: (bytes: Uint8Array, options?: { stream?: string }) => {
        const value = json.deserialize(bytes, options) as { echo?: unknown } | undefined;
        if (value?.echo === 'refuse') throw new Error('refused by the deserializer');
        return Promise.resolve(value);
      },
    };
    [app] = await startFlowApps(bus, { controllers: [ProcessingController], providers, flow: { deserializer } }, ['async-1']);
    publisher = await startFlowApp({ bus, name: 'publisher' });
  });

  afterAll(() => closeAll([app, publisher]));

  it('hands the handler the value a deserializer resolves to', async () => {
    await expect(publisher.client.request('plain', { echo: 'async' }, { key: 'k' })).resolves.toBe('async');
    const before = recorder.entries.length;
    await publisher.client.publish('steps', { step: 'async' }, { key: 'k' });
    await expect(recorder.until(before + 1)).resolves.toContain('handler async steps');
  });

  it('answers a request whose payload the deserializer rejects with an error reply', async () => {
    const failure = await publisher.client.request('plain', { echo: 'refuse' }, { key: 'k' }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(RemoteError);
    expect((failure as RemoteError).message).toMatch(/refused by the deserializer/);
    expect((failure as RemoteError).code).not.toBe(ErrorCode.Timeout);
  });
});
