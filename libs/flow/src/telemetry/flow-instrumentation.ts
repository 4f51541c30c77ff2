import type { BrokerInstrumentation, HandlerTrace, RequestTrace } from '../core/instrumentation';
import type { Delivery } from '../core/delivery';
import type { MsgPayload } from '../core/frame';
import type { Key } from '../core/key';
import type { MessageHeaders } from '../core/pubsub';
import { BrokerMetrics, BrokerMetricsOptions, MetricsSource } from './broker-metrics';
import { OtelTracing, OtelTracingOptions } from './otel-tracing';

export interface TelemetryOptions {
  /** Prometheus metrics; undefined: off. */
  readonly metrics?: BrokerMetricsOptions;
  /** OpenTelemetry spans; undefined: off. */
  readonly tracing?: OtelTracingOptions;
}

/** What an app's telemetry consists of; both undefined when everything is off. */
export interface Telemetry {
  /** For BrokerOptions.instrumentation. */
  readonly instrumentation: BrokerInstrumentation | undefined;
  readonly metrics: BrokerMetrics | undefined;
}

/**
 * Builds the instrumentation for the parts that are on. Each part loads its
 * optional peer dependency here, so a missing package fails at start-up with
 * an error naming the option; with both parts off nothing is loaded and the
 * broker gets no instrumentation at all.
 */
export function createTelemetry(options: TelemetryOptions, source: () => MetricsSource | undefined): Telemetry {
  const metrics = options.metrics === undefined ? undefined : new BrokerMetrics(options.metrics, source);
  const tracing = options.tracing === undefined ? undefined : new OtelTracing(options.tracing);
  if (metrics === undefined && tracing === undefined) return { instrumentation: undefined, metrics: undefined };
  return { instrumentation: new FlowInstrumentation(tracing, metrics), metrics };
}

const UNTRACED_REQUEST: RequestTrace = Object.freeze({ headers: undefined, end: () => undefined });

class FlowInstrumentation implements BrokerInstrumentation {
  readonly timesQueue: boolean;

  constructor(
    private readonly tracing: OtelTracing | undefined,
    private readonly metrics: BrokerMetrics | undefined,
  ) {
    this.timesQueue = metrics !== undefined;
  }

  publish(stream: string, _partitionKey: Uint8Array, size: number): MessageHeaders | undefined {
    return this.tracing?.publish(stream, size);
  }

  request(stream: string, _partitionKey: Uint8Array, size: number): RequestTrace {
    return this.tracing?.request(stream, size) ?? UNTRACED_REQUEST;
  }

  forward(msg: MsgPayload, owner: Key): MessageHeaders | undefined {
    return this.tracing === undefined ? msg.headers : this.tracing.forward(msg, owner);
  }

  handle(delivery: Delivery, headers: MessageHeaders | undefined): HandlerTrace {
    const span = this.tracing?.handle(delivery, headers);
    return this.metrics === undefined ? span! : new TimedRun(this.metrics, delivery.stream, span);
  }
}

/** Times a handler run for the duration histogram, around the span when tracing is on too. */
class TimedRun implements HandlerTrace {
  #startedAt = -1;

  constructor(
    private readonly metrics: BrokerMetrics,
    private readonly stream: string,
    private readonly inner: HandlerTrace | undefined,
  ) {}

  run<T>(handler: () => T): T {
    this.#startedAt = performance.now();
    return this.inner === undefined ? handler() : this.inner.run(handler);
  }

  get replyHeaders(): MessageHeaders | undefined {
    return this.inner?.replyHeaders;
  }

  end(error?: unknown): void {
    // A message dropped before its turn never ran: nothing to time.
    if (this.#startedAt >= 0) this.metrics.observeHandler(this.stream, (performance.now() - this.#startedAt) / 1000);
    this.inner?.end(error);
  }
}
