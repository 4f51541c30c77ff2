import { Controller, Inject, UseFilters } from '@nestjs/common';
import { FlowExceptionFilter } from './flow-exception.filter';
import { Ctx, Payload } from '@nestjs/microservices';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { BusDelivery, DefaultCodec, MemoryBus, RemoteError } from '../core';
import { closeAll, FlowTestApp, RECORDER, Recorder, startFlowApp, startFlowApps } from '../../test/flow-apps';
import { FlowContext } from './flow.context';
import { FlowHandlerError } from './flow-handler.error';
import { RequestHandler, StreamHandler } from './stream-handler.decorator';
import { waitFor } from '../testing/wait-for';

interface Handled {
  app: string;
  stream: string;
  /** The span active inside the handler. */
  traceId: string | undefined;
  spanId: string | undefined;
}

@Controller()
@UseFilters(FlowExceptionFilter)
class TracedController {
  constructor(@Inject(RECORDER) private readonly seen: Recorder<Handled>) {}

  @StreamHandler('orders')
  order(@Payload() _payload: unknown, @Ctx() ctx: FlowContext): void {
    this.record(ctx);
  }

  @RequestHandler('quotes')
  async quote(@Payload() payload: { fail?: boolean }, @Ctx() ctx: FlowContext): Promise<string> {
    await Promise.resolve();
    // Recorded after an await: the context survives asynchronous continuations.
    this.record(ctx);
    if (payload.fail === true) throw new FlowHandlerError('QUOTE_REFUSED', 'no quote for this key');
    return 'quoted';
  }

  private record(ctx: FlowContext): void {
    const active = trace.getActiveSpan()?.spanContext();
    this.seen.push({ app: ctx.getNodeKey(), stream: ctx.getStream(), traceId: active?.traceId, spanId: active?.spanId });
  }
}

const exporter = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();

function spanNamed(name: string): ReadableSpan {
  const found = exporter.getFinishedSpans().filter((span) => span.name === name);
  expect(found).toHaveLength(1);
  return found[0];
}

const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId;

describe('tracing through FlowClient, the forward hop and the handler', () => {
  let apps: FlowTestApp[] = [];
  let bus: MemoryBus;
  let seen: Recorder<Handled>;
  let headersOnBus: BusDelivery[];

  beforeAll(() => {
    context.setGlobalContextManager(contextManager.enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  });

  afterAll(() => {
    context.disable();
    propagation.disable();
  });

  beforeEach(() => {
    exporter.reset();
    bus = new MemoryBus();
    seen = new Recorder<Handled>();
    headersOnBus = [];
    bus.setFault((delivery) => {
      if (delivery.headers !== undefined) headersOnBus.push(delivery);
      return 'deliver';
    });
  });

  afterEach(async () => {
    await closeAll(apps);
    apps = [];
  });

  /** Handler apps a and b (a subscribed first, so it receives the first queue-group message), and publisher p. */
  async function clique(tracing: boolean | 'no sdk'): Promise<{ a: FlowTestApp; b: FlowTestApp; p: FlowTestApp }> {
    const flow = tracing === 'no sdk' ? { tracing: true } : tracing ? { tracing: { tracerProvider } } : {};
    const providers = [{ provide: RECORDER, useValue: seen }];
    const [a, b] = await startFlowApps(bus, { controllers: [TracedController], providers, flow }, ['a', 'b']);
    // The forward hop exists for a publisher that enters through the queue group.
    const p = await startFlowApp({ name: 'p', bus, flow: { ...flow, directRouting: false } });
    apps = [a, b, p];
    await bus.idle();
    return { a, b, p };
  }

  /** A key that `owner` owns, as `viewer` sees the ring. */
  function keyOwnedBy(viewer: FlowTestApp, owner: FlowTestApp): string {
    const positions = new Set(owner.broker.snapshot().positions.map(String));
    for (let i = 0; i < 1000; i++) {
      if (positions.has(String(viewer.broker.ownerOf(`k-${i}`)))) return `k-${i}`;
    }
    throw new Error('no key owned by the other app among 1000');
  }

  it('keeps one trace from the publish span through the forward span to the process span, active in the handler', async () => {
    const { a, b, p } = await clique(true);
    const key = keyOwnedBy(a, b);
    const root = tracerProvider.getTracer('spec').startSpan('checkout');
    await context.with(trace.setSpan(context.active(), root), () => p.client.publish('orders', { n: 1 }, { key }));
    root.end();
    const [handled] = await seen.until(1);
    // The process span ends once the handler's turn is over, just after it recorded.
    await waitFor(() => exporter.getFinishedSpans().some((s) => s.name === 'process orders'), { bus, what: 'the process span' });

    const publish = spanNamed('publish orders');
    const forward = spanNamed('forward orders');
    const processSpan = spanNamed('process orders');
    const traceId = root.spanContext().traceId;
    expect([publish, forward, processSpan].map((s) => s.spanContext().traceId)).toEqual([traceId, traceId, traceId]);
    expect(parentOf(publish)).toBe(root.spanContext().spanId);
    expect(parentOf(forward)).toBe(publish.spanContext().spanId);
    expect(parentOf(processSpan)).toBe(forward.spanContext().spanId);
    expect(handled).toEqual({ app: String(b.broker.nodeKey), stream: 'orders', traceId, spanId: processSpan.spanContext().spanId });
    expect([publish.kind, forward.kind, processSpan.kind]).toEqual([SpanKind.PRODUCER, SpanKind.PRODUCER, SpanKind.CONSUMER]);
    expect(publish.attributes).toMatchObject({
      'messaging.system': 'flow',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'publish',
      'messaging.destination.name': 'orders',
    });
    expect(processSpan.attributes).toMatchObject({
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.consumer.group.name': '_global',
    });
    // The context crossed the bus in W3C headers: the client's on the stream, the forward span's on the FWD.
    expect(headersOnBus.map((d) => [d.subject, d.headers?.traceparent?.split('-')[2]])).toEqual([
      ['orders', publish.spanContext().spanId],
      [expect.stringMatching(/^_global\./), forward.spanContext().spanId],
    ]);
  });

  it('carries the context of a request to the handler and back with the reply, and ends the request span on the reply', async () => {
    const { a, b, p } = await clique(true);
    const key = keyOwnedBy(a, b);
    const reply = await p.client.request('quotes', {}, { key });
    const [handled] = await seen.until(1);

    expect(reply).toBe('quoted');
    const request = spanNamed('request quotes');
    const forward = spanNamed('forward quotes');
    const processSpan = spanNamed('process quotes');
    const traceId = request.spanContext().traceId;
    expect(parentOf(request)).toBeUndefined();
    expect(parentOf(forward)).toBe(request.spanContext().spanId);
    expect(parentOf(processSpan)).toBe(forward.spanContext().spanId);
    expect(handled.traceId).toBe(traceId);
    expect(request.status.code).not.toBe(SpanStatusCode.ERROR);
    // The reply travels to the requester's node subject with the process span's context.
    const replyHeaders = headersOnBus.find((d) => d.subject === `_global.${p.broker.nodeKey}`);
    expect(replyHeaders?.headers?.traceparent).toBe(`00-${traceId}-${processSpan.spanContext().spanId}-01`);
  });

  it('marks the process and request spans as failed when the handler throws, with the error code', async () => {
    const { a, b, p } = await clique(true);
    const key = keyOwnedBy(a, b);

    await expect(p.client.request('quotes', { fail: true }, { key })).rejects.toBeInstanceOf(RemoteError);

    const request = spanNamed('request quotes');
    const processSpan = spanNamed('process quotes');
    expect(processSpan.status.code).toBe(SpanStatusCode.ERROR);
    expect(processSpan.attributes['error.type']).toBe('QUOTE_REFUSED');
    expect(request.status.code).toBe(SpanStatusCode.ERROR);
    expect(request.attributes['error.type']).toBe('QUOTE_REFUSED');
    expect(request.spanContext().traceId).toBe(processSpan.spanContext().traceId);
  });

  it('with tracing off sends no headers and records no spans, even with an SDK registered', async () => {
    const { a, b, p } = await clique(false);
    const key = keyOwnedBy(a, b);
    await p.client.publish('orders', { n: 1 }, { key });
    await p.client.request('quotes', {}, { key });
    await seen.until(2);

    expect(headersOnBus).toEqual([]);
    expect(exporter.getFinishedSpans()).toEqual([]);
    expect(seen.entries.map((e) => e.traceId)).toEqual([undefined, undefined]);
  });

  it('is a no-op with tracing on but no OpenTelemetry SDK registered: handlers run, nothing is sent or recorded', async () => {
    const { a, b, p } = await clique('no sdk');
    const key = keyOwnedBy(a, b);
    await p.client.publish('orders', { n: 1 }, { key });
    expect(await p.client.request('quotes', {}, { key })).toBe('quoted');
    await seen.until(2);

    expect(headersOnBus).toEqual([]);
    expect(exporter.getFinishedSpans()).toEqual([]);
  });

  it('passes headers from a foreign publisher through the forward hop unchanged when tracing is off', async () => {
    const { a, b } = await clique(false);
    const key = keyOwnedBy(a, b);
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const foreign = bus.connect('foreign');
    foreign.publish('orders', new DefaultCodec().encode({ stream: 'orders', partitionKey: Buffer.from(key), data: Buffer.from('{}') }), {
      traceparent,
    });
    await seen.until(1);

    expect(headersOnBus.map((d) => d.headers?.traceparent)).toEqual([traceparent, traceparent]);
    expect(headersOnBus[1].subject).toMatch(/^_global\./);
  });
});
