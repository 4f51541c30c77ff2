import { Controller, Inject } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { FlowError, MemoryBus } from '../core';
import { FlowStatus } from './broker-host';
import { FlowHealthIndicator } from './flow.health';
import { closeAll, FlowTestApp, Gate, RECORDER, Recorder, startFlowApp, startFlowApps } from '../../test/flow-apps';
import { StreamHandler } from './stream-handler.decorator';

interface Job {
  id: number;
  gate: 'hold' | 'never' | 'none';
}

/** Shared by the apps of one spec: lets the spec hold handlers in flight. */
class Jobs {
  readonly started = new Recorder<number>();
  readonly finished = new Recorder<number>();
  readonly hold = new Gate();
  readonly never = new Gate();
}

@Controller()
class JobsController {
  constructor(@Inject(RECORDER) private readonly jobs: Jobs) {}

  @StreamHandler('jobs')
  async run(@Payload() job: Job): Promise<void> {
    this.jobs.started.push(job.id);
    if (job.gate === 'hold') await this.jobs.hold.opened;
    if (job.gate === 'never') await this.jobs.never.opened;
    this.jobs.finished.push(job.id);
  }
}

async function startCluster(bus: MemoryBus, jobs: Jobs, shutdownGracePeriod: number, errors: FlowError[] = []) {
  return startFlowApps(
    bus,
    {
      controllers: [JobsController],
      providers: [{ provide: RECORDER, useValue: jobs }],
      flow: { shutdownGracePeriod, onError: (error) => errors.push(error) },
    },
    ['worker-1', 'worker-2'],
  );
}

/** A key that `app` owns, found by asking its broker. */
function keyOwnedBy(app: FlowTestApp): string {
  const positions = new Set(app.broker.snapshot().positions.map((key) => key.toString()));
  for (let i = 0; i < 1000; i++) if (positions.has(app.broker.ownerOf(`key-${i}`)!.toString())) return `key-${i}`;
  throw new Error(`no key owned by ${app.name} among 1000`);
}

describe('FlowModule shutdown', () => {
  it('leaves the ring, lets the handler in flight finish, then closes', async () => {
    const bus = new MemoryBus();
    const jobs = new Jobs();
    const [leaving, staying] = await startCluster(bus, jobs, 5_000);
    const left = new Recorder<string>();
    staying.server.on('left', (key) => left.push(key.toString()));
    const statuses: string[] = [];
    leaving.server.status.subscribe((status) => statuses.push(status));

    await staying.client.publish('jobs', { id: 1, gate: 'hold' }, { key: keyOwnedBy(leaving) });
    await jobs.started.until(1);
    let closed = false;
    const closing = leaving.app.close().then(() => (closed = true));

    expect((await left.until(8)).sort()).toEqual(leaving.broker.snapshot().positions.map((key) => key.toString()).sort());
    expect(staying.broker.snapshot().members).toHaveLength(8);
    expect(closed).toBe(false);
    expect(jobs.finished.entries).toEqual([]);

    jobs.hold.open();
    await closing;
    expect(jobs.finished.entries).toEqual([1]);
    expect(leaving.broker.counters.handled).toBe(1);
    expect(statuses).toEqual([FlowStatus.Connected, FlowStatus.Disconnected]);
    await staying.app.close();
  });

  it('stops waiting after shutdownGracePeriod and reports the timeout', async () => {
    const bus = new MemoryBus();
    const jobs = new Jobs();
    const errors: FlowError[] = [];
    const [stuck, other] = await startCluster(bus, jobs, 30, errors);
    await other.client.publish('jobs', { id: 2, gate: 'never' }, { key: keyOwnedBy(stuck) });
    await jobs.started.until(1);

    await stuck.app.close();
    expect(errors.map((error) => error.code)).toEqual(['FLOW_TIMEOUT']);
    expect(errors[0].message).toContain('shutdown timed out after 30 ms');
    jobs.never.open();
    await other.app.close();
  });

  it('is harmless to close twice: FlowServer.close() and the app shutdown share one shutdown', async () => {
    const bus = new MemoryBus();
    const [app] = await startCluster(bus, new Jobs(), 1_000);
    await app.server.close();
    await expect(app.host.start()).rejects.toMatchObject({ code: 'FLOW_CLOSED' });
    await expect(app.app.close()).resolves.toBeUndefined();
    await expect(app.server.close()).resolves.toBeUndefined();
  });
});

describe('FlowHealthIndicator', () => {
  const bus = new MemoryBus();
  let apps: FlowTestApp[];

  beforeAll(async () => {
    apps = await startCluster(bus, new Jobs(), 1_000);
    apps.push(await startFlowApp({ bus, name: 'publisher' }));
  });

  afterAll(() => closeAll(apps.slice(1)));

  it('reports a started, connected, joined broker as up, with its ring figures', () => {
    const health = apps[0].app.get(FlowHealthIndicator);
    expect(health.isHealthy()).toBe(true);
    expect(health.check()).toEqual({
      flow: { status: 'up', connected: true, joined: true, ringSize: 16, positions: 8, conflicts: 0, incompatibleMembers: 0 },
    });
  });

  it('reports a publisher as up without ring positions, under the key given', () => {
    expect(apps[2].app.get(FlowHealthIndicator).check('nats-flow')).toEqual({
      'nats-flow': { status: 'up', connected: true, joined: false, ringSize: 0, positions: 0, conflicts: 0, incompatibleMembers: 0 },
    });
  });

  it('reports down once the app has shut down', async () => {
    const health = apps[0].app.get(FlowHealthIndicator);
    await apps[0].app.close();
    expect(health.isHealthy()).toBe(false);
    expect(health.check().flow).toMatchObject({ status: 'down', connected: false });
  });
});
