import { Injectable } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { ErrorCode, FlowError } from '../core/errors';
import { FlowBrokerHost } from './broker-host';

/**
 * The app's Flow metrics (module option `metrics`). They are registered in
 * the registry the option names, by default prom-client's global one, which
 * is what `@willsoto/nestjs-prometheus` serves: with it, Flow's metrics
 * appear on its `/metrics` endpoint without further code. Without it, serve
 * `await flowMetrics.metrics()` with `contentType` from a controller.
 */
@Injectable()
export class FlowMetrics {
  constructor(private readonly host: FlowBrokerHost) {}

  /** True when the module's `metrics` option is on. */
  get enabled(): boolean {
    return this.host.telemetry.metrics !== undefined;
  }

  /** The registry holding Flow's metrics; undefined when metrics are off. */
  get registry(): Registry | undefined {
    return this.host.telemetry.metrics?.registry;
  }

  /** The Content-Type of `metrics()` (Prometheus text format). */
  get contentType(): string {
    return this.#registry().contentType;
  }

  /** The registry's metrics in the Prometheus text format (prom-client's `registry.metrics()`). */
  metrics(): Promise<string> {
    return this.#registry().metrics();
  }

  #registry(): Registry {
    const registry = this.registry;
    if (registry === undefined) {
      throw new FlowError(ErrorCode.InvalidOption, 'FlowMetrics: metrics are off; set the FlowModule option metrics: true');
    }
    return registry;
  }
}
