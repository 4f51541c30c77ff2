/**
 * OpenTelemetry traces on a real nats-server: the context travels in NATS
 * headers from FlowClient's publish span, through the forward hop, to the
 * process span around the handler, and back with a reply. App "a" uses the
 * `nats` v2 client, app "b" a `@nats-io/transport-node` v3 connection, so
 * headers cross between the two clients.
 */
import { Controller, Inject } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { connect } from '@nats-io/transport-node';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  ReadableSpan,
  SimpleSpanProcessor,
  SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { FlowContext, RequestHandler, StreamHandler } from 'nestjs-flow';
import { startNatsServer, type NatsServer } from './harness/nats-server';
import { closeApps, startFlowApp, type FlowApp } from './support/nest/flow-app';
import { Recorder } from './support/nest/recorder';
import { awaitRing } from './support/nest/ring-waits';

const SEEN = Symbol('SEEN');

interface Handled {
  readonly nodeKey: string;
  readonly seq: number;
  /** Trace of the span active inside the handler. */
  readonly traceId: string | undefined;
}

@Controller()
class TracedController {
  constructor(@Inject(SEEN) private readonly seen: Recorder<Handled>) {}

  @StreamHandler('traced.orders')
  order(@Payload() order: { seq: number }, @Ctx() ctx: FlowContext): void {
    this.seen.push({ nodeKey: ctx.getNodeKey(), seq: order.seq, traceId: trace.getActiveSpan()?.spanContext().traceId });
  }

  @RequestHandler('traced.quotes')
  quote(@Payload() query: { seq: number }, @Ctx() ctx: FlowContext): string {
    this.seen.push({ nodeKey: ctx.getNodeKey(), seq: query.seq, traceId: trace.getActiveSpan()?.spanContext().traceId });
    return 'quoted';
  }
}

const exporter = new InMemorySpanExporter();
/** Every ended span, so that a spec can await spans instead of polling. */
const ended = new Recorder<ReadableSpan>();
const announcer: SpanProcessor = {
  onStart: () => undefined,
  onEnd: (span) => ended.push(span),
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter), announcer] });
const contextManager = new AsyncLocalStorageContextManager();

const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId;
const spanId = (span: ReadableSpan): string => span.spanContext().spanId;

function spansOf(traceId: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);
}

describe('Flow tracing on a real nats-server', () => {
  let server: NatsServer;
  let v3: Awaited<ReturnType<typeof connect>>;
  const seen = new Recorder<Handled>();
  const apps: FlowApp[] = [];
  let a: FlowApp;
  let b: FlowApp;
  let publisher: FlowApp;

  beforeAll(async () => {
    context.setGlobalContextManager(contextManager.enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    server = await startNatsServer();
    v3 = await connect({ servers: server.url });
    const common = { controllers: [TracedController], providers: [{ provide: SEEN, useValue: seen }] };
    a = await startFlowApp({ ...common, servers: server.url, name: 'trace-a', flow: { tracing: { tracerProvider } } });
    apps.push(a);
    b = await startFlowApp({
      ...common,
      servers: server.url,
      name: 'trace-b',
      flow: { servers: undefined, connection: v3, tracing: { tracerProvider } },
    });
    apps.push(b);
    // The queue group, not direct publishing: half the events reach a, which forwards them (the hop traced here).
    const flow = { directRouting: false, tracing: { tracerProvider } };
    publisher = await startFlowApp({ servers: server.url, name: 'trace-publisher', flow });
    apps.push(publisher);
    await awaitRing([a, b], 32);
  });

  afterAll(async () => {
    await closeApps(apps);
    await v3?.close();
    await server?.stop();
    context.disable();
    propagation.disable();
  });

  /** `count` keys that app `owner` owns. */
  function keysOwnedBy(owner: FlowApp, count: number): string[] {
    const keys: string[] = [];
    for (let i = 0; keys.length < count && i < 10_000; i++) {
      if (owner.positions.has(String(a.broker.ownerOf(`key-${i}`)))) keys.push(`key-${i}`);
    }
    return keys;
  }

  it('keeps each event in one trace from the publish span through the forward hop to the process span', async () => {
    exporter.reset();
    const keys = keysOwnedBy(b, 24);
    const roots = keys.map((key, seq) => {
      const root = tracerProvider.getTracer('e2e').startSpan(`checkout ${seq}`);
      void context.with(trace.setSpan(context.active(), root), () => publisher.client.publish('traced.orders', { seq }, { key }));
      root.end();
      return root;
    });
    const handled = await seen.until(keys.length);
    const processed = (spans: readonly ReadableSpan[]): number => spans.filter((span) => span.name === 'process traced.orders').length;
    await ended.untilTrue((spans) => processed(spans) >= keys.length, 10_000, 'a process span per event');

    let forwarded = 0;
    for (const [seq, root] of roots.entries()) {
      const traceId = root.spanContext().traceId;
      const spans = spansOf(traceId);
      const publish = spans.find((span) => span.name === 'publish traced.orders')!;
      const forward = spans.find((span) => span.name === 'forward traced.orders');
      const processSpan = spans.find((span) => span.name === 'process traced.orders')!;
      expect(parentOf(publish)).toBe(root.spanContext().spanId);
      // Taken from the queue group by b itself, or by a and forwarded to b.
      if (forward !== undefined) {
        forwarded++;
        expect(parentOf(forward)).toBe(spanId(publish));
        expect(parentOf(processSpan)).toBe(spanId(forward));
      } else {
        expect(parentOf(processSpan)).toBe(spanId(publish));
      }
      expect(handled.find((entry) => entry.seq === seq)).toEqual({ nodeKey: String(b.broker.nodeKey), seq, traceId });
    }
    // Each of the 24 events reached a first with probability 1/2: a run without a forward is a 2^-24 event.
    expect(forwarded).toBeGreaterThan(0);
    expect(forwarded).toBe(a.broker.counters.forwarded);
  });

  it('carries a request through the hop to the handler and back: the reply ends the request span of the same trace', async () => {
    exporter.reset();
    const [key] = keysOwnedBy(b, 1);
    const before = seen.entries.length;
    // A plain subscription on a's node subject sees the frames a receives, the reply among them.
    const contexts: string[] = [];
    const tap = v3.subscribe(`_global.${a.broker.nodeKey}`, {
      callback: (_error: Error | null, msg: { headers?: { get(key: string): string } }) => {
        const traceparent = msg.headers?.get('traceparent');
        if (traceparent) contexts.push(traceparent);
      },
    });
    await v3.flush();
    const reply = await a.client.request('traced.quotes', { seq: 1000 }, { key });
    await v3.flush();
    tap.unsubscribe();

    expect(reply).toBe('quoted');
    const request = exporter.getFinishedSpans().find((span) => span.name === 'request traced.quotes')!;
    const traceId = request.spanContext().traceId;
    const processSpan = spansOf(traceId).find((span) => span.name === 'process traced.quotes');
    expect(processSpan).toBeDefined();
    expect(seen.entries[before]).toEqual({ nodeKey: String(b.broker.nodeKey), seq: 1000, traceId });
    expect(contexts).toContain(`00-${traceId}-${spanId(processSpan!)}-01`);
    // The process span (on the v3 connection) ended before the reply it sent reached a (v2).
    expect(processSpan!.endTime[0] * 1e9 + processSpan!.endTime[1]).toBeLessThanOrEqual(
      request.endTime[0] * 1e9 + request.endTime[1],
    );
  });
});
