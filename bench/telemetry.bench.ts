/**
 * What logging, metrics and tracing cost: the same Flow apps on one real
 * nats-server with each switched off and on, measured in one run, as ratios
 * against everything off.
 *
 *   node -r ./test/support/ts-register.js bench/telemetry.bench.ts [--events N] [--sequential N] [--rounds N]
 *     [--only name,name]   (a diagnostic: 'off' and the named configurations only)
 *
 * Setup per configuration (all in this process, each app with its own NATS
 * connection): two handler apps (FlowServer, @StreamHandler and
 * @RequestHandler) and one publisher app (FlowClient). Events are keyed over
 * KEYS partition keys, so about half of them take the forward hop.
 *
 * Configurations:
 *   off          logger: false, no metrics, no tracing (the default)
 *   off again    the same, measured again: the noise of the measurement
 *   logging      Nest's logger on (a LoggerService that formats every line
 *                and writes it nowhere, so the bench output stays readable)
 *   metrics      metrics: { registry } (prom-client), scraped once per round
 *   otel sdk     the OpenTelemetry SDK registered (AsyncLocalStorage context
 *                manager, W3C propagator), Flow's tracing off: what an app
 *                with OpenTelemetry pays before Flow does anything
 *   tracing      tracing on, every trace sampled (a BatchSpanProcessor whose
 *                exporter discards the spans, queue large enough to drop none)
 *   tracing 10 % tracing on, 10 % of traces sampled (ParentBased(TraceIdRatio))
 *   all on       logging, metrics and tracing (every trace) together
 *
 * Measured per configuration: (a) events end to end: N keyed events, the
 * publisher flushing every BATCH and keeping at most WINDOW unhandled, from
 * the first publish to the last handler run, and this process's CPU time per
 * event (all three apps run here; the nats-server is not counted); (b)
 * sequential keyed requests: req/s, p50, p99 and CPU time per request. CPU
 * time per message is the steadier figure on a shared machine: other
 * processes slow the wall clock, not the work done here. Each configuration
 * runs `rounds` times in interleaved order and the best round counts (the
 * least disturbed by the machine).
 * Printed, never asserted. The nats-server is stopped by PID at the end.
 */
import { Controller, INestMicroservice, Inject, LoggerService } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { Test, TestingModule } from '@nestjs/testing';
import { context, propagation } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  SpanExporter,
  SpanProcessor,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { FlowClient, FlowModule, FlowModuleOptions, FlowServer, RequestHandler, StreamHandler } from '../libs/flow/src';
import type { Broker } from '../libs/flow/src/core';
import { Registry } from 'prom-client';
import { startNatsServer, type NatsServer } from '../test/harness/nats-server';

const argument = (name: string, fallback: number, max: number): number => {
  const index = process.argv.indexOf(`--${name}`);
  const value = index < 0 ? fallback : Number(process.argv[index + 1]);
  if (!Number.isInteger(value) || value < 1 || value > max) throw new Error(`--${name} must be an integer from 1 to ${max}`);
  return value;
};

const EVENTS = argument('events', 20_000, 2_000_000);
const SEQUENTIAL = argument('sequential', 1_000, 100_000);
const ROUNDS = argument('rounds', 3, 10);
const WARMUP_EVENTS = 3_000;
const WARMUP_REQUESTS = 200;
const KEYS = 1_000;
const BATCH = 500;
const WINDOW = 5_000;
const PAYLOAD_BYTES = 256;
/** A run gives up when nothing was handled for this long. */
const STALL_MS = 10_000;

interface Config {
  readonly name: string;
  readonly logging: boolean;
  readonly metrics: boolean;
  /** Register the OpenTelemetry SDK (context manager, propagator) for this run. */
  readonly sdk: boolean;
  /** Flow's `tracing` option with the provider sampling this share of traces; undefined: off. */
  readonly tracing?: 1 | 0.1;
}

const ALL_CONFIGS: readonly Config[] = [
  { name: 'off', logging: false, metrics: false, sdk: false },
  { name: 'off again', logging: false, metrics: false, sdk: false },
  { name: 'logging', logging: true, metrics: false, sdk: false },
  { name: 'metrics', logging: false, metrics: true, sdk: false },
  { name: 'otel sdk', logging: false, metrics: false, sdk: true },
  { name: 'tracing', logging: false, metrics: false, sdk: true, tracing: 1 },
  { name: 'tracing 10 %', logging: false, metrics: false, sdk: true, tracing: 0.1 },
  { name: 'all on', logging: true, metrics: true, sdk: true, tracing: 1 },
];

const ONLY = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1]!.split(',') : undefined;
const CONFIGS = ALL_CONFIGS.filter((config) => ONLY === undefined || config.name === 'off' || ONLY.includes(config.name));

interface Result {
  eventsPerSecond: number;
  cpuUsPerEvent: number;
  requestsPerSecond: number;
  cpuUsPerRequest: number;
  p50Us: number;
  p99Us: number;
}

/** CPU time of this process (user + system) since `since`, µs. */
function cpuUs(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return used.user + used.system;
}

/** Handler runs of the current configuration, shared by its apps. */
class Tally {
  handled = 0;
  #waiter: { count: number; resolve: () => void } | undefined;

  add(): void {
    this.handled++;
    if (this.#waiter !== undefined && this.handled >= this.#waiter.count) {
      this.#waiter.resolve();
      this.#waiter = undefined;
    }
  }

  /** Resolves once `count` runs were counted; rejects when the count stalls. */
  async until(count: number): Promise<void> {
    while (this.handled < count) {
      const before = this.handled;
      const reached = new Promise<void>((resolve) => (this.#waiter = { count, resolve }));
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<'stalled'>((resolve) => (timer = setTimeout(() => resolve('stalled'), STALL_MS)));
      const outcome = await Promise.race([reached, stalled]);
      clearTimeout(timer);
      if (outcome === 'stalled' && this.handled === before) throw new Error(`stalled at ${this.handled} of ${count} handled`);
    }
  }
}

const TALLY = Symbol('TALLY');

@Controller()
class BenchController {
  constructor(@Inject(TALLY) private readonly tally: Tally) {}

  @StreamHandler('telemetry.events')
  event(@Payload() _event: unknown): void {
    this.tally.add();
  }

  @RequestHandler('telemetry.requests')
  request(@Payload() query: { n: number }): { n: number } {
    return { n: query.n };
  }
}

/** Characters of log lines formatted by the logging configurations (a check that they logged). */
let formatted = 0;

/** Formats every line as Nest's console logger would, and writes nothing. */
class DiscardingLogger implements LoggerService {
  log(message: unknown, ...rest: unknown[]): void {
    this.#format('LOG', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.#format('ERROR', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.#format('WARN', message, rest);
  }
  #format(level: string, message: unknown, rest: unknown[]): void {
    formatted += `[Nest] ${process.pid}  - ${new Date().toISOString()}   ${level} [${String(rest.at(-1))}] ${String(message)}`.length;
  }
}

/** Accepts spans and drops them: the SDK's per-span work without an exporter's I/O. Counts them, as a check. */
let spansExported = 0;
let spansEnded = 0;
const discardingExporter: SpanExporter = {
  export: (spans, done) => {
    spansExported += spans.length;
    done({ code: 0 });
  },
  shutdown: () => Promise.resolve(),
};
const endCounter: SpanProcessor = {
  onStart: () => undefined,
  onEnd: () => void spansEnded++,
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};

/** A provider as an app would configure it: batching, sampling `ratio` of new traces. */
function tracerProvider(ratio: number): BasicTracerProvider {
  const batching = new BatchSpanProcessor(discardingExporter, {
    maxQueueSize: 1 << 17,
    maxExportBatchSize: 4096,
    scheduledDelayMillis: 200,
  });
  const sampler = new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  return new BasicTracerProvider({ sampler, spanProcessors: [batching, endCounter] });
}

interface Running {
  readonly modules: TestingModule[];
  readonly closables: { close(): Promise<unknown> }[];
  readonly publisher: FlowClient;
  readonly registries: Registry[];
}

async function startApps(server: NatsServer, config: Config, tally: Tally, provider: BasicTracerProvider | undefined): Promise<Running> {
  const modules: TestingModule[] = [];
  const closables: { close(): Promise<unknown> }[] = [];
  const registries: Registry[] = [];
  const logger = config.logging ? new DiscardingLogger() : false;
  const options = (name: string): FlowModuleOptions => {
    const registry = new Registry();
    registries.push(registry);
    return {
      servers: server.url,
      nodeName: `${config.name}-${name}`,
      clique: `bench-${config.name.replace(/\s/g, '-')}`,
      ...(config.metrics ? { metrics: { registry } } : {}),
      ...(provider === undefined ? {} : { tracing: { tracerProvider: provider } }),
    };
  };
  for (const name of ['a', 'b']) {
    const moduleRef = await Test.createTestingModule({
      imports: [FlowModule.forRoot(options(name))],
      controllers: [BenchController],
      providers: [{ provide: TALLY, useValue: tally }],
    }).compile();
    const app: INestMicroservice = moduleRef.createNestMicroservice({ strategy: moduleRef.get(FlowServer), logger });
    await app.listen();
    modules.push(moduleRef);
    closables.push(app);
  }
  const publisherModule = await Test.createTestingModule({ imports: [FlowModule.forRoot(options('publisher'))] }).compile();
  publisherModule.useLogger(logger);
  await publisherModule.init();
  modules.push(publisherModule);
  closables.push(publisherModule);
  const publisher = publisherModule.get(FlowClient);
  await publisher.connect();
  // Both handler apps on the ring, as seen by each: 2 x 256 positions.
  const servers = modules.slice(0, 2).map((m) => m.get(FlowServer));
  const deadline = Date.now() + 10_000;
  while (servers.some((s) => s.unwrap<Broker>().snapshot().members.length < 512)) {
    if (Date.now() > deadline) throw new Error('the handler apps did not form a ring within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { modules, closables, publisher, registries };
}

const PAD = 'x'.repeat(PAYLOAD_BYTES - 40);

async function sendEvents(running: Running, tally: Tally, count: number): Promise<number> {
  const start = tally.handled;
  const began = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    void running.publisher.publish('telemetry.events', { i, pad: PAD }, { key: `key-${i % KEYS}` });
    if ((i + 1) % BATCH === 0) {
      await running.publisher.flush();
      if (i + 1 - (tally.handled - start) > WINDOW) await tally.until(start + i + 1 - WINDOW);
    }
  }
  await tally.until(start + count);
  return Number(process.hrtime.bigint() - began) / 1e9;
}

async function sequentialRequests(running: Running, count: number): Promise<{ seconds: number; latenciesUs: number[] }> {
  const latenciesUs: number[] = [];
  const began = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const sent = process.hrtime.bigint();
    await running.publisher.request('telemetry.requests', { n: i, pad: PAD }, { key: `key-${i % KEYS}` });
    latenciesUs.push(Number(process.hrtime.bigint() - sent) / 1e3);
  }
  return { seconds: Number(process.hrtime.bigint() - began) / 1e9, latenciesUs };
}

const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

async function measure(server: NatsServer, config: Config, providers: ReadonlyMap<number, BasicTracerProvider>): Promise<Result> {
  const contextManager = new AsyncLocalStorageContextManager();
  if (config.sdk) {
    context.setGlobalContextManager(contextManager.enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  }
  const tally = new Tally();
  const provider = config.tracing === undefined ? undefined : providers.get(config.tracing);
  const running = await startApps(server, config, tally, provider);
  try {
    await sendEvents(running, tally, WARMUP_EVENTS);
    await sequentialRequests(running, WARMUP_REQUESTS);
    const eventsCpu = process.cpuUsage();
    const eventSeconds = await sendEvents(running, tally, EVENTS);
    const cpuUsPerEvent = cpuUs(eventsCpu) / EVENTS;
    const requestsCpu = process.cpuUsage();
    const requests = await sequentialRequests(running, SEQUENTIAL);
    const cpuUsPerRequest = cpuUs(requestsCpu) / SEQUENTIAL;
    // A scrape, so that the metrics configuration pays for its collection once per round.
    if (config.metrics) await Promise.all(running.registries.map((registry) => registry.metrics()));
    const sorted = [...requests.latenciesUs].sort((x, y) => x - y);
    return {
      eventsPerSecond: EVENTS / eventSeconds,
      cpuUsPerEvent,
      requestsPerSecond: SEQUENTIAL / requests.seconds,
      cpuUsPerRequest,
      p50Us: percentile(sorted, 0.5),
      p99Us: percentile(sorted, 0.99),
    };
  } finally {
    for (const closable of running.closables) await closable.close();
    await provider?.forceFlush();
    if (config.sdk) {
      context.disable();
      propagation.disable();
    }
  }
}

function best(results: readonly Result[]): Result {
  return {
    eventsPerSecond: Math.max(...results.map((r) => r.eventsPerSecond)),
    cpuUsPerEvent: Math.min(...results.map((r) => r.cpuUsPerEvent)),
    requestsPerSecond: Math.max(...results.map((r) => r.requestsPerSecond)),
    cpuUsPerRequest: Math.min(...results.map((r) => r.cpuUsPerRequest)),
    p50Us: Math.min(...results.map((r) => r.p50Us)),
    p99Us: Math.min(...results.map((r) => r.p99Us)),
  };
}

function printTable(results: ReadonlyMap<string, Result>): void {
  const base = results.get('off')!;
  const rows = [...results.entries()].map(([name, r]) => [
    name,
    Math.round(r.eventsPerSecond).toLocaleString('en-US'),
    (r.eventsPerSecond / base.eventsPerSecond).toFixed(2),
    r.cpuUsPerEvent.toFixed(1),
    (r.cpuUsPerEvent / base.cpuUsPerEvent).toFixed(2),
    Math.round(r.requestsPerSecond).toLocaleString('en-US'),
    (r.requestsPerSecond / base.requestsPerSecond).toFixed(2),
    Math.round(r.cpuUsPerRequest).toString(),
    (r.cpuUsPerRequest / base.cpuUsPerRequest).toFixed(2),
    Math.round(r.p50Us).toString(),
    (r.p50Us / base.p50Us).toFixed(2),
    Math.round(r.p99Us).toString(),
  ]);
  const header = ['config', 'events/s', 'x off', 'CPU µs/event', 'x off', 'seq req/s', 'x off', 'CPU µs/req', 'x off', 'p50 µs', 'x off', 'p99 µs'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const row of rows) console.log(line(row));
}

async function main(): Promise<void> {
  console.log(
    `Telemetry cost: ${EVENTS.toLocaleString('en-US')} keyed events and ${SEQUENTIAL.toLocaleString('en-US')} sequential keyed requests per ` +
      `configuration, ${KEYS} keys, ${PAYLOAD_BYTES}-byte payloads, 2 handler apps + 1 publisher in one process, best of ${ROUNDS} rounds`,
  );
  const server = await startNatsServer();
  const providers = new Map([1, 0.1].map((ratio) => [ratio, tracerProvider(ratio)]));
  const results = new Map<string, Result[]>(CONFIGS.map((c) => [c.name, []]));
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Interleaved, and rotated each round, so that drift in the machine spreads over all configurations.
      const order = CONFIGS.map((_, i) => CONFIGS[(i + round) % CONFIGS.length]!);
      for (const config of order) results.get(config.name)!.push(await measure(server, config, providers));
    }
  } finally {
    await Promise.all([...providers.values()].map((provider) => provider.shutdown()));
    await server.stop();
  }
  printTable(new Map([...results.entries()].map(([name, rs]) => [name, best(rs)])));
  console.log(`Log characters formatted over all rounds (logging and all on): ${formatted.toLocaleString('en-US')}`);
  console.log(
    `Spans over all rounds: ${spansEnded.toLocaleString('en-US')} ended, ${spansExported.toLocaleString('en-US')} exported ` +
      '(recorded spans only: unsampled ones are neither)',
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
