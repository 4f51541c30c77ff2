import type * as PromClient from 'prom-client';
import type { BrokerCounters } from '../core/broker-counters';
import type { BrokerLoad } from '../core/instrumentation';
import type { RingSnapshot } from '../core/ring-snapshot';
import { InvalidOptionError } from '../core/errors';
import { loadOptionalPeer } from './optional-peer';

/** What the metrics read, at collection time only: a Broker fits. */
export interface MetricsSource {
  readonly counters: Readonly<BrokerCounters>;
  readonly load: BrokerLoad;
  snapshot(): RingSnapshot;
}

export interface BrokerMetricsOptions {
  /** Where the metrics are registered. Default: prom-client's global registry (the one `@willsoto/nestjs-prometheus` serves). */
  readonly registry?: PromClient.Registry;
  /** Prepended to every metric name. Default `flow_`. */
  readonly prefix?: string;
}

/** Counters read from BrokerCounters at collection time: name suffix, counter field, help. */
const COUNTERS: readonly (readonly [string, keyof BrokerCounters, string])[] = [
  ['messages_received_total', 'received', 'Messages and requests taken from stream subjects'],
  ['messages_forwarded_total', 'forwarded', 'Messages forwarded to their owner (FWD frames sent)'],
  ['forwards_acked_total', 'acked', 'Forwards the owner acknowledged in time'],
  ['messages_retried_total', 'retried', 'Forwards routed again after their owner timed out'],
  ['timeouts_total', 'timedOut', 'Forwards and pings that got no answer within ackTimeout'],
  ['messages_handled_total', 'handled', 'Handler runs that completed'],
  ['messages_failed_total', 'failed', 'Handler runs that threw or rejected'],
  ['messages_dropped_total', 'dropped', 'Messages given up: overload, no handler, closed while in flight'],
  ['messages_malformed_total', 'malformed', 'Undecodable input on any subject'],
  ['handoffs_abandoned_total', 'handoffsAbandoned', 'Handoffs given up: the previous owner gone, silent, or past the bound'],
  ['publishes_via_queue_group_total', 'viaQueueGroup', 'Keyed publishes and requests sent through the queue group, not to their owner: no order relative to direct ones'],
  ['publishes_refused_late_total', 'refusedLate', 'Acknowledged publishes refused after publish() resolved (each also reported through onError)'],
];

/** Gauges computed at collection time: name suffix, help, value. */
const GAUGES: readonly (readonly [string, string, (source: MetricsSource) => number])[] = [
  ['ring_size', 'Positions on the ring as this broker sees it, its own included', (s) => s.snapshot().members.length],
  ['own_positions', 'Ring positions this broker holds (0 until joined)', (s) => ownPositions(s.snapshot())],
  ['handlers_running', 'Handlers running now', (s) => s.load.handlersRunning],
  ['handlers_queued', 'Messages accepted for their handler and waiting for their partition key\'s turn', (s) => s.load.handlersQueued],
  ['forwards_in_flight', 'Forwards awaiting their ACK or a free slot in the window', (s) => s.load.forwardsInFlight],
  ['publishes_remembered', 'Publishes remembered to answer their retries (the duplicate window)', (s) => s.load.publishesRemembered],
  ['publishes_unsettled', 'Acknowledged publishes from here not yet handled by their owner, and those waiting for the window', (s) => s.load.publishesUnsettled],
  ['oldest_queued_message_age_seconds', 'Age of the oldest message waiting for its handler', (s) => s.load.oldestQueuedMs / 1000],
];

function ownPositions(snapshot: RingSnapshot): number {
  return snapshot.joined ? snapshot.positions.length : 0;
}

/** Handler durations, seconds: from 0.5 ms to 10 s. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const PREFIX = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/**
 * A broker's Prometheus metrics through prom-client (loaded when metrics are
 * switched on). Counters and gauges are read from the broker when the
 * registry collects, so they cost nothing per message; the handler duration
 * histogram (label `stream`) is the only per-message work. Registering
 * metrics whose names the registry already holds fails with
 * InvalidOptionError naming `metrics.prefix`; unregister() removes them.
 */
export class BrokerMetrics {
  readonly registry: PromClient.Registry;
  readonly #names: string[] = [];
  readonly #durations: PromClient.Histogram<'stream'>;
  readonly #byStream = new Map<string, PromClient.Histogram.Internal<'stream'>>();

  constructor(options: BrokerMetricsOptions, source: () => MetricsSource | undefined) {
    const prom = loadOptionalPeer<typeof PromClient>('prom-client', 'metrics', () => require('prom-client'));
    const prefix = options.prefix ?? 'flow_';
    if (typeof prefix !== 'string' || (prefix !== '' && !PREFIX.test(prefix))) {
      throw new InvalidOptionError('metrics.prefix', 'must be a Prometheus metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)', prefix);
    }
    const registry = options.registry ?? prom.register;
    if (typeof registry?.registerMetric !== 'function' || typeof registry.getSingleMetric !== 'function') {
      throw new InvalidOptionError('metrics.registry', 'must be a prom-client Registry', registry);
    }
    this.registry = registry;
    const taken = [...COUNTERS.map(([n]) => n), ...GAUGES.map(([n]) => n), 'handler_duration_seconds']
      .map((suffix) => prefix + suffix)
      .find((name) => registry.getSingleMetric(name) !== undefined);
    if (taken !== undefined) {
      const why = `names a metric the registry already has (${taken}): another Flow app? give each its own prefix or registry`;
      throw new InvalidOptionError('metrics.prefix', why, prefix);
    }
    const registers = [registry];
    for (const [suffix, field, help] of COUNTERS) {
      const name = this.#name(prefix + suffix);
      new prom.Counter({
        name,
        help,
        registers,
        collect() {
          const value = source()?.counters[field] ?? 0;
          this.reset();
          this.inc(value);
        },
      });
    }
    for (const [suffix, help, read] of GAUGES) {
      new prom.Gauge({
        name: this.#name(prefix + suffix),
        help,
        registers,
        collect() {
          const current = source();
          this.set(current === undefined ? 0 : read(current));
        },
      });
    }
    this.#durations = new prom.Histogram({
      name: this.#name(`${prefix}handler_duration_seconds`),
      help: 'Handler run time per stream, from the start of its turn to its completion',
      labelNames: ['stream'],
      buckets: DURATION_BUCKETS,
      registers,
    });
  }

  /** Records one handler run of `stream` that took `seconds`. */
  observeHandler(stream: string, seconds: number): void {
    let observer = this.#byStream.get(stream);
    if (observer === undefined) {
      observer = this.#durations.labels(stream);
      this.#byStream.set(stream, observer);
    }
    observer.observe(seconds);
  }

  /** Removes these metrics from the registry (at app shutdown). Idempotent. */
  unregister(): void {
    for (const name of this.#names.splice(0)) this.registry.removeSingleMetric(name);
  }

  #name(name: string): string {
    this.#names.push(name);
    return name;
  }
}
