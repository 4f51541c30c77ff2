import { Controller, Inject, UseFilters } from '@nestjs/common';
import { FlowExceptionFilter } from './flow-exception.filter';
import { Ctx, Payload } from '@nestjs/microservices';
import { register, Registry } from 'prom-client';
import { ErrorCode, MemoryBus } from '../core';
import { closeAll, FlowTestApp, Gate, RECORDER, Recorder, startFlowApp } from '../../test/flow-apps';
import { ManualClock } from '../testing/manual-clock';
import { waitFor } from '../testing/wait-for';
import { FlowBrokerHost } from './broker-host';
import { FlowContext } from './flow.context';
import { FlowMetrics } from './flow.metrics';
import { FlowModuleOptions, resolveFlowModuleOptions } from './flow.options';
import { RequestHandler, StreamHandler } from './stream-handler.decorator';

const GATE = Symbol('GATE');

@Controller()
@UseFilters(FlowExceptionFilter)
class CountingController {
  constructor(
    @Inject(RECORDER) private readonly seen: Recorder<string>,
    @Inject(GATE) private readonly gate: { current: Gate | undefined },
  ) {}

  @StreamHandler('orders')
  async order(@Payload() _payload: unknown, @Ctx() ctx: FlowContext): Promise<void> {
    this.seen.push(ctx.getNodeKey());
    await this.gate.current?.opened;
  }

  @RequestHandler('fail')
  fail(): never {
    throw new Error('refused');
  }
}

/** Current value of a metric without labels, read through prom-client's own collection. */
async function value(registry: Registry, name: string): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return values[0]?.value ?? 0;
}

describe('FlowMetrics', () => {
  let apps: FlowTestApp[] = [];
  let bus: MemoryBus;
  let seen: Recorder<string>;
  const gate: { current: Gate | undefined } = { current: undefined };

  beforeEach(() => {
    bus = new MemoryBus();
    seen = new Recorder<string>();
    gate.current = undefined;
  });

  afterEach(async () => {
    gate.current?.open();
    await closeAll(apps);
    apps = [];
  });

  function solo(flow: FlowModuleOptions): Promise<FlowTestApp> {
    return startFlowApp({ name: 'solo', bus, controllers: [CountingController], providers: providers(), flow });
  }

  function providers() {
    return [
      { provide: RECORDER, useValue: seen },
      { provide: GATE, useValue: gate },
    ];
  }

  it("reads the broker's counters and ring into the user's registry, and times handlers per stream", async () => {
    const registries = [new Registry(), new Registry()];
    for (const [i, name] of ['a', 'b'].entries()) {
      apps.push(
        await startFlowApp({
          name,
          bus,
          controllers: [CountingController],
          providers: providers(),
          flow: { metrics: { registry: registries[i] } },
        }),
      );
    }
    // Through the queue group, so that both apps receive and forward (a direct publisher skips both).
    const publisher = await startFlowApp({ name: 'p', bus, flow: { directRouting: false } });
    apps.push(publisher);
    await bus.idle();

    for (let i = 0; i < 200; i++) await publisher.client.publish('orders', { i }, { key: `k-${i % 40}` });
    await seen.until(200);
    const handledBy = (app: FlowTestApp) => seen.entries.filter((nodeKey) => nodeKey === String(app.broker.nodeKey)).length;
    await waitFor(() => apps.every((app) => app.broker.counters.handled === handledBy(app)), { bus });

    for (const [i, app] of apps.slice(0, 2).entries()) {
      const registry = registries[i];
      const counters = app.broker.counters;
      expect(await value(registry, 'flow_messages_received_total')).toBe(counters.received);
      expect(await value(registry, 'flow_messages_forwarded_total')).toBe(counters.forwarded);
      expect(await value(registry, 'flow_messages_handled_total')).toBe(counters.handled);
      // Members route keyed publishes by their own ring: none took the queue group.
      expect(await value(registry, 'flow_publishes_via_queue_group_total')).toBe(0);
      expect(await value(registry, 'flow_ring_size')).toBe(16);
      expect(await value(registry, 'flow_own_positions')).toBe(8);
      expect(await value(registry, 'flow_handlers_running')).toBe(0);
      const durations = await registry.getSingleMetric('flow_handler_duration_seconds')!.get();
      const count = durations.values.find((v) => (v as { metricName?: string }).metricName === 'flow_handler_duration_seconds_count');
      expect(count).toMatchObject({ labels: { stream: 'orders' }, value: counters.handled });
    }
    // Both received and both handled: the sums are the whole traffic.
    const received = await Promise.all(registries.map((r) => value(r, 'flow_messages_received_total')));
    expect(received[0] + received[1]).toBe(200);
    expect(received[0]).toBeGreaterThan(0);
    expect(received[1]).toBeGreaterThan(0);
  });

  it('shows queued handlers and the age of the oldest waiting message while a key is busy', async () => {
    const clock = new ManualClock(10_000);
    const registry = new Registry();
    const app = await startFlowApp({
      name: 'solo',
      bus,
      controllers: [CountingController],
      providers: providers(),
      flow: { metrics: { registry }, clock },
    });
    apps = [app];
    gate.current = new Gate();

    for (let i = 0; i < 5; i++) await app.client.publish('orders', { i }, { key: 'hot' });
    await seen.until(1);
    await waitFor(() => app.broker.load.handlersQueued === 4, { bus });
    clock.advance(1500);

    expect(await value(registry, 'flow_handlers_running')).toBe(1);
    expect(await value(registry, 'flow_handlers_queued')).toBe(4);
    expect(await value(registry, 'flow_oldest_queued_message_age_seconds')).toBe(1.5);
    gate.current.open();
    await seen.until(5);
    await waitFor(() => app.broker.load.handlersQueued === 0 && app.broker.load.handlersRunning === 0, { bus });
    expect(await value(registry, 'flow_oldest_queued_message_age_seconds')).toBe(0);
  });

  it("shows a publisher's acknowledged publishes that its owner has not handled yet", async () => {
    const registry = new Registry();
    apps.push(await startFlowApp({ name: 'owner', bus, controllers: [CountingController], providers: providers() }));
    const publisher = await startFlowApp({ name: 'p', bus, flow: { metrics: { registry } } });
    apps.push(publisher);
    await bus.idle();
    gate.current = new Gate();

    // Resolved once the owner accepted them; kept by the publisher until handled.
    for (let i = 0; i < 5; i++) await publisher.client.publish('orders', { i }, { key: 'hot' });
    await seen.until(1);
    expect(await value(registry, 'flow_publishes_unsettled')).toBe(5);
    gate.current.open();
    await seen.until(5);
    await waitFor(() => publisher.broker.load.publishesUnsettled === 0, { bus });
    expect(await value(registry, 'flow_publishes_unsettled')).toBe(0);
  });

  it('counts failed handler runs', async () => {
    const registry = new Registry();
    const app = await solo({ metrics: { registry } });
    apps = [app];

    await expect(app.client.request('fail', {})).rejects.toThrow(/refused/);

    expect(await value(registry, 'flow_messages_failed_total')).toBe(1);
    expect(await value(registry, 'flow_messages_handled_total')).toBe(0);
  });

  it("registers in prom-client's global registry by default (which @willsoto/nestjs-prometheus serves), until close", async () => {
    const app = await solo({ metrics: true });
    apps = [app];
    const metrics = app.app.get(FlowMetrics);

    expect(metrics.enabled).toBe(true);
    expect(metrics.registry).toBe(register);
    const text = await metrics.metrics();
    expect(text).toContain('# TYPE flow_messages_received_total counter');
    expect(text).toContain('flow_own_positions 8');
    expect(metrics.contentType).toBe(register.contentType);
    await closeAll(apps);
    apps = [];
    expect(register.getSingleMetric('flow_own_positions')).toBeUndefined();
  });

  it('takes a prefix, and refuses a second app on the same names in one registry, naming metrics.prefix', async () => {
    const registry = new Registry();
    const flow = { metrics: { registry } };
    apps.push(await startFlowApp({ name: 'one', bus, flow }));
    await expect(startFlowApp({ name: 'two', bus, flow })).rejects.toMatchObject({
      code: ErrorCode.InvalidOption,
      message: expect.stringMatching(/metrics\.prefix.*flow_messages_received_total/),
    });
    apps.push(await startFlowApp({ name: 'three', bus, flow: { metrics: { registry, prefix: 'three_' } } }));
    expect(registry.getSingleMetric('three_ring_size')).toBeDefined();
  });

  it('is off by default: no instrumentation, nothing registered, and metrics() says how to switch it on', async () => {
    const before = register.getMetricsAsArray().length;
    const app = await startFlowApp({ name: 'solo', bus });
    apps = [app];
    const metrics = app.app.get(FlowMetrics);

    expect(app.app.get(FlowBrokerHost).telemetry).toEqual({ instrumentation: undefined, metrics: undefined });
    expect(metrics.enabled).toBe(false);
    expect(metrics.registry).toBeUndefined();
    expect(() => metrics.metrics()).toThrow(/metrics: true/);
    expect(register.getMetricsAsArray()).toHaveLength(before);
  });

  it('validates the metrics and tracing options, naming the option', () => {
    expect(() => resolveFlowModuleOptions({ metrics: 'yes' as never })).toThrow(/metrics/);
    expect(() => resolveFlowModuleOptions({ metrics: { prefix: '9bad' } })).toThrow(/metrics\.prefix/);
    expect(() => resolveFlowModuleOptions({ metrics: { registry: {} as never } })).toThrow(/metrics\.registry/);
    expect(() => resolveFlowModuleOptions({ metrics: { buckets: [] } as never })).toThrow(/metrics\.buckets/);
    expect(() => resolveFlowModuleOptions({ tracing: 1 as never })).toThrow(/tracing/);
    expect(() => resolveFlowModuleOptions({ tracing: { tracerProvider: {} as never } })).toThrow(/tracing\.tracerProvider/);
    expect(resolveFlowModuleOptions({ metrics: false, tracing: false }).telemetry).toEqual({ metrics: undefined, tracing: undefined });
    expect(resolveFlowModuleOptions({ metrics: true, tracing: true }).telemetry).toEqual({ metrics: {}, tracing: {} });
  });
});
