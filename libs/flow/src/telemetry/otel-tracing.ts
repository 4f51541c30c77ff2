import type * as OtelApi from '@opentelemetry/api';
import type { Context, Span, Tracer, TracerProvider } from '@opentelemetry/api';
import type { HandlerTrace, RequestTrace } from '../core/instrumentation';
import type { Delivery } from '../core/delivery';
import type { MsgPayload } from '../core/frame';
import type { Key } from '../core/key';
import type { MessageHeaders } from '../core/pubsub';
import { loadOptionalPeer } from './optional-peer';

/** OpenTelemetry semantic conventions for messaging (v1.27+ names). */
const ATTR = {
  system: 'messaging.system',
  operationType: 'messaging.operation.type',
  operationName: 'messaging.operation.name',
  destination: 'messaging.destination.name',
  partition: 'messaging.destination.partition.id',
  consumerGroup: 'messaging.consumer.group.name',
  bodySize: 'messaging.message.body.size',
  errorType: 'error.type',
} as const;

/** messaging.system: Flow's own protocol over NATS (or the embedded bus); not one of the registry's values. */
const SYSTEM = 'flow';

const TRACER_NAME = 'nestjs-flow';

export interface OtelTracingOptions {
  /** Default: the global provider (`trace.getTracerProvider()`), a no-op until an SDK registers one. */
  readonly tracerProvider?: TracerProvider;
}

/**
 * Messaging spans through `@opentelemetry/api` (loaded when constructed, so
 * an app without it is unaffected while tracing is off). Context travels in
 * message headers through the global propagator (W3C trace context with the
 * Node SDK); an empty carrier sends no headers at all.
 *
 * Spans: `publish <stream>` and `request <stream>` (PRODUCER, send) where a
 * message leaves; `forward <stream>` (PRODUCER, send) for each hop to the
 * owner, a child of the context the message arrived with; `process <stream>`
 * (CONSUMER, process) around the handler, which runs with that span active.
 * A reply carries the process span's context back to the requester.
 */
export class OtelTracing {
  readonly #api: typeof OtelApi;
  readonly #tracer: Tracer;

  constructor(options: OtelTracingOptions = {}) {
    this.#api = loadOptionalPeer<typeof OtelApi>('@opentelemetry/api', 'tracing', () => require('@opentelemetry/api'));
    const provider = options.tracerProvider ?? this.#api.trace.getTracerProvider();
    this.#tracer = provider.getTracer(TRACER_NAME);
  }

  publish(stream: string, size: number): MessageHeaders | undefined {
    const parent = this.#api.context.active();
    const span = this.#start('publish', stream, this.#api.SpanKind.PRODUCER, 'send', parent);
    span.setAttribute(ATTR.bodySize, size);
    const headers = this.#inject(parent, span);
    span.end();
    return headers;
  }

  request(stream: string, size: number): RequestTrace {
    const parent = this.#api.context.active();
    const span = this.#start('request', stream, this.#api.SpanKind.PRODUCER, 'send', parent);
    span.setAttribute(ATTR.bodySize, size);
    return { headers: this.#inject(parent, span), end: (error?: unknown) => this.#end(span, error) };
  }

  forward(msg: MsgPayload, owner: Key): MessageHeaders | undefined {
    const parent = this.#extract(msg.headers);
    const span = this.#start('forward', msg.stream, this.#api.SpanKind.PRODUCER, 'send', parent);
    span.setAttribute(ATTR.partition, owner.toString());
    const headers = this.#inject(parent, span);
    span.end();
    return headers;
  }

  /** The process span of one handler run; it starts when the handler starts. */
  handle(delivery: Delivery, headers: MessageHeaders | undefined): ProcessSpan {
    return new ProcessSpan(this, delivery, headers);
  }

  /** @internal For ProcessSpan. */
  startProcess(delivery: Delivery, headers: MessageHeaders | undefined): { span: Span; context: Context } {
    const parent = this.#extract(headers);
    const span = this.#start('process', delivery.stream, this.#api.SpanKind.CONSUMER, 'process', parent);
    span.setAttribute(ATTR.consumerGroup, delivery.clique);
    span.setAttribute(ATTR.partition, delivery.owner.toString());
    span.setAttribute(ATTR.bodySize, delivery.data.length);
    return { span, context: this.#api.trace.setSpan(parent, span) };
  }

  /** @internal For ProcessSpan. */
  runIn<T>(context: Context, work: () => T): T {
    return this.#api.context.with(context, work);
  }

  /** @internal For ProcessSpan. */
  inject(context: Context): MessageHeaders | undefined {
    const carrier: Record<string, string> = {};
    this.#api.propagation.inject(context, carrier);
    return hasKeys(carrier) ? carrier : undefined;
  }

  /** @internal For ProcessSpan. */
  endSpan(span: Span, error: unknown): void {
    this.#end(span, error);
  }

  #start(operation: string, stream: string, kind: OtelApi.SpanKind, type: string, parent: Context): Span {
    return this.#tracer.startSpan(
      `${operation} ${stream}`,
      {
        kind,
        attributes: {
          [ATTR.system]: SYSTEM,
          [ATTR.operationType]: type,
          [ATTR.operationName]: operation,
          [ATTR.destination]: stream,
        },
      },
      parent,
    );
  }

  #inject(parent: Context, span: Span): MessageHeaders | undefined {
    return this.inject(this.#api.trace.setSpan(parent, span));
  }

  #extract(headers: MessageHeaders | undefined): Context {
    const root = this.#api.ROOT_CONTEXT;
    return headers === undefined ? root : this.#api.propagation.extract(root, headers);
  }

  #end(span: Span, error: unknown): void {
    if (error !== undefined) {
      const code = (error as { code?: unknown } | null)?.code;
      span.setAttribute(ATTR.errorType, typeof code === 'string' ? code : error instanceof Error ? error.name : 'Error');
      if (error instanceof Error) span.recordException(error);
      span.setStatus({ code: this.#api.SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    }
    span.end();
  }
}

/** One handler run's process span: started by run(), ended by end(). */
export class ProcessSpan implements HandlerTrace {
  #span: Span | undefined;
  #context: Context | undefined;

  constructor(
    private readonly tracing: OtelTracing,
    private readonly delivery: Delivery,
    private readonly headers: MessageHeaders | undefined,
  ) {}

  run<T>(handler: () => T): T {
    const { span, context } = this.tracing.startProcess(this.delivery, this.headers);
    this.#span = span;
    this.#context = context;
    return this.tracing.runIn(context, handler);
  }

  get replyHeaders(): MessageHeaders | undefined {
    return this.#context === undefined ? undefined : this.tracing.inject(this.#context);
  }

  end(error?: unknown): void {
    // A message dropped before its turn (overload) gets a span that says so.
    if (this.#span === undefined) this.#span = this.tracing.startProcess(this.delivery, this.headers).span;
    this.tracing.endSpan(this.#span, error);
  }
}

function hasKeys(record: Record<string, string>): boolean {
  for (const _ in record) return true;
  return false;
}
