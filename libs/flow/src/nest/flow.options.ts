import type { LoggerService } from '@nestjs/common';
import { FlowError, InvalidOptionError, MemoryBus } from '../core';
import { BrokerOptions, integerOption, LIMITS, ResolvedBrokerOptions, resolveBrokerOptions } from '../core/options';
import { NatsConnectionLike } from '../nats';
import { NatsOptions, resolveNatsOptions, resolveNatsPubSubOptions } from '../nats/nats-options';
import type { BrokerMetricsOptions } from '../telemetry/broker-metrics';
import type { TelemetryOptions } from '../telemetry/flow-instrumentation';
import type { OtelTracingOptions } from '../telemetry/otel-tracing';
import { FlowDeserializer, FlowSerializer, JsonFlowDeserializer, JsonFlowSerializer } from './flow.serializer';

/** `metrics: { registry, prefix }`: a prom-client Registry (default the global one) and a name prefix (default `flow_`). */
export type FlowMetricsOptions = BrokerMetricsOptions;

/** `tracing: { tracerProvider }`: default the global OpenTelemetry tracer provider. */
export type FlowTracingOptions = OtelTracingOptions;

/** The embedded (in-process) transport. */
export interface FlowEmbeddedOptions {
  /**
   * The bus to join. App instances in one process that pass the same bus form
   * one clique, as separate processes would over NATS. Default: a new bus of
   * this app's own.
   */
  readonly bus?: MemoryBus;
}

/**
 * Options of `FlowModule.forRoot` / `forRootAsync`.
 *
 * Transport: `servers` (connect to NATS), `connection` (use an existing NATS
 * connection, left open on shutdown), or neither (the embedded in-memory
 * transport, optionally configured through `embedded`). The NATS settings
 * `name`, `tls`, `user`/`pass`, `token`, `reconnect` and `pingIntervalMs`
 * apply only with `servers`; `drainTimeoutMs` applies to both NATS forms.
 *
 * Broker settings (`clique`, `nodeKey`/`nodeName`, `partitionHash`, `virtualNodes`,
 * `concurrency`, `syncPartitions`, `stabilization`, `ackTimeout`,
 * `requestTimeout`, `codec`, limits, `onError`) are BrokerOptions, with its
 * defaults. `onError` defaults to logging through Nest's Logger.
 */
export interface FlowModuleOptions extends BrokerOptions, Omit<NatsOptions, 'servers' | 'onError'> {
  /** NATS server URL(s): a list or a comma-separated string. Excludes `connection` and `embedded`. */
  readonly servers?: string | readonly string[];
  /** An open NATS connection (from `nats` or `@nats-io/transport-node`). Excludes `servers` and `embedded`. */
  readonly connection?: NatsConnectionLike;
  /** Settings of the embedded transport, used when neither `servers` nor `connection` is given. */
  readonly embedded?: FlowEmbeddedOptions;
  /** Payload to bytes, for published messages, requests and replies. Default: JsonFlowSerializer. */
  readonly serializer?: FlowSerializer;
  /** Bytes to payload, for handlers and replies. Default: JsonFlowDeserializer. */
  readonly deserializer?: FlowDeserializer;
  /**
   * On shutdown, how long in-flight handlers may run after the broker has left
   * the ring, ms, 0..2^31-1. Default 10000.
   */
  readonly shutdownGracePeriod?: number;
  /**
   * Where Flow logs (context `Flow`): a Nest LoggerService (the app's logger,
   * pino, ...), or false for silence. Default: Nest's Logger. Errors go to
   * `onError` instead when it is set.
   */
  readonly logger?: LoggerService | false;
  /**
   * Waiting for NATS at start-up (with `servers`): `attempts` connection
   * attempts (1..1000000, default 1: fail at once), `intervalMs` apart
   * (1..600000, default 1000), each logged. Once connected, the `reconnect`
   * policy applies.
   */
  readonly connect?: FlowConnectOptions;
  /**
   * Partition keys chosen by the publisher, per stream: FlowClient's emit,
   * send, publish and request derive the key of a payload on that stream
   * from it when no key is given (no `key` option, not a FlowRecord with a
   * key). A payload on a stream without an entry and without a key is sent
   * unkeyed: any broker may handle it, with no per-key order.
   */
  readonly keys?: Readonly<Record<string, FlowKeyOf>>;
  /**
   * Prometheus metrics through prom-client (an optional peer dependency,
   * loaded only when this is on): `true`, or `{ registry, prefix }`. Default
   * off, which costs nothing per message.
   */
  readonly metrics?: boolean | FlowMetricsOptions;
  /**
   * OpenTelemetry messaging spans (publish, request, forward, process) with
   * W3C trace context in message headers, through `@opentelemetry/api` (an
   * optional peer dependency): `true`, or `{ tracerProvider }`. A no-op until
   * an OpenTelemetry SDK is registered. Default off, which costs nothing per message.
   */
  readonly tracing?: boolean | FlowTracingOptions;
}

/** Derives a partition key from a payload about to be published. */
export type FlowKeyOf = (payload: unknown) => string | Uint8Array;

export interface FlowConnectOptions {
  readonly attempts?: number;
  readonly intervalMs?: number;
}

/** Defaults of the Nest-level options, with their units. */
export const FLOW_MODULE_DEFAULTS = Object.freeze({
  shutdownGracePeriodMs: 10_000,
  connectAttempts: 1,
  connectIntervalMs: 1000,
});

export type FlowTransportOptions =
  | { readonly kind: 'servers'; readonly nats: NatsOptions; readonly connect: Readonly<Required<FlowConnectOptions>> }
  | { readonly kind: 'connection'; readonly connection: NatsConnectionLike; readonly drainTimeoutMs: number | undefined }
  | { readonly kind: 'embedded'; readonly bus: MemoryBus | undefined };

/** Validated, complete options; produced once per app, frozen. */
export interface ResolvedFlowModuleOptions {
  readonly transport: FlowTransportOptions;
  /** Complete broker options; `onError` is the user's (or undefined). */
  readonly broker: ResolvedBrokerOptions;
  readonly serializer: FlowSerializer;
  readonly deserializer: FlowDeserializer;
  readonly shutdownGracePeriod: number;
  readonly onError: ((error: FlowError) => void) | undefined;
  /** undefined: Nest's Logger; false: silent. */
  readonly logger: LoggerService | false | undefined;
  readonly keys: ReadonlyMap<string, FlowKeyOf>;
  /** Which of metrics and tracing are on, with their settings. */
  readonly telemetry: TelemetryOptions;
}

const BROKER_KEYS = [
  'clique',
  'nodeKey',
  'nodeName',
  'partitionHash',
  'virtualNodes',
  'codec',
  'ackTimeout',
  'requestTimeout',
  'stabilization',
  'concurrency',
  'syncPartitions',
  'maxPendingRequests',
  'maxInFlightForwards',
  'maxQueuedMessages',
  'reconnectBuffer',
  'directRouting',
  'batchForwards',
  'onError',
  'clock',
] as const satisfies readonly (keyof BrokerOptions)[];

/** NATS client settings that only make sense when Flow opens the connection itself. */
const CONNECT_KEYS = ['name', 'tls', 'user', 'pass', 'token', 'reconnect', 'pingIntervalMs', 'connect'] as const;

const MODULE_KEYS = [
  'servers',
  'connection',
  'embedded',
  'drainTimeoutMs',
  'serializer',
  'deserializer',
  'shutdownGracePeriod',
  'logger',
  'keys',
  'metrics',
  'tracing',
  // Consumed by ConfigurableModuleBuilder's extras; tolerated if it slips through.
  'isGlobal',
] as const;

const KNOWN_KEYS: ReadonlySet<string> = new Set([...BROKER_KEYS, ...CONNECT_KEYS, ...MODULE_KEYS]);

/**
 * Validates every option and fills in defaults. Throws InvalidOptionError
 * naming the first offending option; FlowModule calls it while the app is
 * bootstrapping, so a bad option stops the app before it connects anywhere.
 */
export function resolveFlowModuleOptions(input: FlowModuleOptions = {}): ResolvedFlowModuleOptions {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new InvalidOptionError('options', 'must be an object', input);
  }
  for (const key of Object.keys(input)) {
    if (!KNOWN_KEYS.has(key)) throw new InvalidOptionError(key, 'is not a Flow module option', (input as never)[key]);
  }
  const brokerInput: Record<string, unknown> = {};
  for (const key of BROKER_KEYS) if (input[key] !== undefined) brokerInput[key] = input[key];
  return Object.freeze({
    transport: resolveTransport(input),
    broker: resolveBrokerOptions(brokerInput as BrokerOptions),
    serializer: resolveCodecPart('serializer', input.serializer, 'serialize') ?? new JsonFlowSerializer(),
    deserializer: resolveCodecPart('deserializer', input.deserializer, 'deserialize') ?? new JsonFlowDeserializer(),
    shutdownGracePeriod: integerOption(
      'shutdownGracePeriod',
      input.shutdownGracePeriod,
      FLOW_MODULE_DEFAULTS.shutdownGracePeriodMs,
      0,
      LIMITS.timeoutMs,
    ),
    onError: input.onError,
    logger: resolveLogger(input.logger),
    keys: resolveKeys(input.keys),
    telemetry: Object.freeze({ metrics: resolveMetrics(input.metrics), tracing: resolveTracing(input.tracing) }),
  });
}

const PROMETHEUS_PREFIX = /^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/;

function resolveMetrics(value: FlowModuleOptions['metrics']): FlowMetricsOptions | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return Object.freeze({});
  if (value === null || typeof value !== 'object') {
    throw new InvalidOptionError('metrics', 'must be a boolean or { registry, prefix }', value);
  }
  for (const key of Object.keys(value)) {
    if (key !== 'registry' && key !== 'prefix') {
      throw new InvalidOptionError(`metrics.${key}`, 'is not a metrics option', (value as never)[key]);
    }
  }
  if (value.prefix !== undefined && (typeof value.prefix !== 'string' || !PROMETHEUS_PREFIX.test(value.prefix))) {
    throw new InvalidOptionError('metrics.prefix', 'must match [a-zA-Z_:][a-zA-Z0-9_:]* (a Prometheus name prefix)', value.prefix);
  }
  if (value.registry !== undefined && (value.registry === null || typeof value.registry.registerMetric !== 'function')) {
    throw new InvalidOptionError('metrics.registry', 'must be a prom-client Registry', value.registry);
  }
  return Object.freeze({ ...value });
}

function resolveTracing(value: FlowModuleOptions['tracing']): FlowTracingOptions | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return Object.freeze({});
  if (value === null || typeof value !== 'object') {
    throw new InvalidOptionError('tracing', 'must be a boolean or { tracerProvider }', value);
  }
  for (const key of Object.keys(value)) {
    if (key !== 'tracerProvider') {
      throw new InvalidOptionError(`tracing.${key}`, 'is not a tracing option', (value as never)[key]);
    }
  }
  const provider = value.tracerProvider;
  if (provider !== undefined && (provider === null || typeof provider.getTracer !== 'function')) {
    throw new InvalidOptionError('tracing.tracerProvider', 'must be an OpenTelemetry TracerProvider (with getTracer())', provider);
  }
  return Object.freeze({ ...value });
}

function resolveTransport(input: FlowModuleOptions): FlowTransportOptions {
  const { servers, connection, embedded } = input;
  if (servers !== undefined && connection !== undefined) {
    throw new InvalidOptionError('connection', 'cannot be combined with servers', '<connection>');
  }
  if (embedded !== undefined && (servers !== undefined || connection !== undefined)) {
    throw new InvalidOptionError('embedded', `cannot be combined with ${servers !== undefined ? 'servers' : 'connection'}`, embedded);
  }
  if (servers === undefined) {
    for (const key of CONNECT_KEYS) {
      if (input[key] !== undefined) {
        throw new InvalidOptionError(key, 'applies only with servers (Flow opening the NATS connection)', redact(key, input[key]));
      }
    }
  }
  if (servers !== undefined) {
    const nats: NatsOptions = { servers, drainTimeoutMs: input.drainTimeoutMs };
    for (const key of CONNECT_KEYS) {
      if (key !== 'connect' && input[key] !== undefined) Object.assign(nats, { [key]: input[key] });
    }
    resolveNatsOptions(nats);
    return Object.freeze({ kind: 'servers', nats: Object.freeze(nats), connect: resolveConnect(input.connect) });
  }
  if (connection !== undefined) {
    // The full shape check happens when the adapter wraps the connection at init.
    if (connection === null || typeof connection !== 'object') {
      throw new InvalidOptionError('connection', 'must be a NATS connection', connection);
    }
    const { drainTimeoutMs } = resolveNatsPubSubOptions({ drainTimeoutMs: input.drainTimeoutMs });
    return Object.freeze({ kind: 'connection', connection, drainTimeoutMs });
  }
  if (input.drainTimeoutMs !== undefined) {
    throw new InvalidOptionError('drainTimeoutMs', 'applies only with servers or connection', input.drainTimeoutMs);
  }
  return Object.freeze({ kind: 'embedded', bus: resolveEmbedded(embedded) });
}

function resolveEmbedded(embedded: FlowEmbeddedOptions | undefined): MemoryBus | undefined {
  if (embedded === undefined) return undefined;
  if (embedded === null || typeof embedded !== 'object') {
    throw new InvalidOptionError('embedded', 'must be an object', embedded);
  }
  if (embedded.bus !== undefined && !(embedded.bus instanceof MemoryBus)) {
    throw new InvalidOptionError('embedded.bus', 'must be a MemoryBus', embedded.bus);
  }
  return embedded.bus;
}

function resolveCodecPart<T>(option: string, value: T | undefined, method: string): T | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || typeof (value as Record<string, unknown>)[method] !== 'function') {
    throw new InvalidOptionError(option, `must be an object with a ${method}() method`, value);
  }
  return value;
}

function resolveConnect(value: unknown): Readonly<Required<FlowConnectOptions>> {
  if (value === undefined) value = {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidOptionError('connect', 'must be an object ({ attempts, intervalMs })', value);
  }
  const { attempts, intervalMs } = value as Record<string, unknown>;
  return Object.freeze({
    attempts: integerOption('connect.attempts', attempts, FLOW_MODULE_DEFAULTS.connectAttempts, 1, 1_000_000),
    intervalMs: integerOption('connect.intervalMs', intervalMs, FLOW_MODULE_DEFAULTS.connectIntervalMs, 1, 600_000),
  });
}

function resolveLogger(value: unknown): LoggerService | false | undefined {
  if (value === undefined || value === false) return value;
  const methods = ['log', 'error', 'warn'] as const;
  if (value === null || typeof value !== 'object' || methods.some((m) => typeof (value as Record<string, unknown>)[m] !== 'function')) {
    throw new InvalidOptionError('logger', 'must be false or a Nest LoggerService (with log, error and warn)', value);
  }
  return value as LoggerService;
}

function resolveKeys(value: unknown): ReadonlyMap<string, FlowKeyOf> {
  if (value === undefined) return new Map();
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidOptionError('keys', 'must be an object of stream name to (payload) => key', value);
  }
  const keys = new Map<string, FlowKeyOf>();
  for (const [stream, keyOf] of Object.entries(value)) {
    if (typeof keyOf !== 'function') throw new InvalidOptionError(`keys.${stream}`, 'must be a function (payload) => key', keyOf);
    keys.set(stream, keyOf as FlowKeyOf);
  }
  return keys;
}

function redact(key: string, value: unknown): unknown {
  return key === 'pass' || key === 'token' ? '<redacted>' : value;
}
