/**
 * Graceful shutdown of Nest apps with FlowModule on a real nats-server: a
 * closing app leaves the ring at once, finishes the handlers it holds, and
 * the other apps take over its keys; messages published meanwhile are not lost.
 */
import { Controller, Inject } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { FlowContext, FlowError, StreamHandler } from 'nestjs-flow';
import { startNatsServer, type NatsServer } from './harness/nats-server';
import { APP_NAME, closeApps, keysOwnedBy, startFlowApp, type FlowApp } from './support/nest/flow-app';
import { Gate } from '../libs/flow/test/gate';
import { Recorder } from './support/nest/recorder';
import { awaitRing } from './support/nest/ring-waits';

const SHOP = Symbol('SHOP');
const POSITIONS = 16;

interface Job {
  readonly seq: number;
  readonly hold: boolean;
}

interface Run {
  readonly app: string;
  readonly key: string;
  readonly owner: string;
  readonly seq: number;
}

class Shop {
  readonly started = new Recorder<Run>();
  readonly finished = new Recorder<Run>();
  readonly errors: { app: string; error: FlowError }[] = [];
  readonly release = new Gate();
}

@Controller()
class JobsController {
  constructor(
    @Inject(APP_NAME) private readonly app: string,
    @Inject(SHOP) private readonly shop: Shop,
  ) {}

  @StreamHandler('shop.jobs')
  async run(@Payload() job: Job, @Ctx() context: FlowContext): Promise<void> {
    const run = { app: this.app, key: context.getPartitionKey(), owner: context.getOwner(), seq: job.seq };
    this.shop.started.push(run);
    if (job.hold) await this.shop.release.opened;
    else await new Promise<void>((resolve) => setImmediate(resolve));
    this.shop.finished.push(run);
  }
}

/** Sequence numbers from 0 to total - 1 that no finished run carries. */
function missing(runs: readonly Run[], total: number): number[] {
  const seen = new Set(runs.map((run) => run.seq));
  return Array.from({ length: total }, (_, seq) => seq).filter((seq) => !seen.has(seq));
}

/** Resolves once every sequence number below `total` has finished somewhere; else lists the missing ones. */
async function awaitAllFinished(shop: Shop, total: number, timeoutMs = 5_000): Promise<readonly Run[]> {
  await shop.finished
    .untilTrue((runs) => new Set(runs.map((run) => run.seq)).size >= total, timeoutMs, `all ${total} jobs finished`)
    .catch(() => undefined);
  expect({ missing: missing(shop.finished.entries, total) }).toEqual({ missing: [] });
  return shop.finished.entries;
}

/** Resolves once each of `apps` has seen every position of `leaving` leave the ring. */
function awaitLeft(apps: readonly FlowApp[], leaving: FlowApp): Promise<string[]> {
  const left = new Recorder<string>();
  for (const app of apps) {
    app.broker.on('left', (key) => {
      if (leaving.positions.has(key.toString())) left.push(`${app.name}:${key}`);
    });
  }
  return left.until(apps.length * leaving.positions.size);
}

describe('Flow apps on a real nats-server: graceful shutdown', () => {
  let server: NatsServer;
  const shop = new Shop();
  const handlers: FlowApp[] = [];
  let publisher: FlowApp;
  let seq = 0;
  const publish = (key: string, hold = false): Promise<void> =>
    publisher.client.publish('shop.jobs', { seq: seq++, hold } satisfies Job, { key });

  beforeAll(async () => {
    server = await startNatsServer();
    for (const name of ['shop-1', 'shop-2', 'shop-3', 'shop-4']) {
      handlers.push(
        await startFlowApp({
          servers: server.url,
          name,
          controllers: [JobsController],
          providers: [{ provide: SHOP, useValue: shop }],
          flow: { shutdownGracePeriod: 10_000, onError: (error) => shop.errors.push({ app: name, error }) },
        }),
      );
    }
    publisher = await startFlowApp({ servers: server.url, name: 'shop-publisher' });
    await awaitRing(handlers, 4 * POSITIONS);
  });

  afterAll(async () => {
    shop.release.open();
    await closeApps([...handlers, publisher]);
    await server?.stop();
  });

  it('leaves the ring at once, finishes the handlers in flight before closing, and hands its keys to the others', async () => {
    const [leaving, ...staying] = handlers as [FlowApp, ...FlowApp[]];
    const heldKeys = keysOwnedBy(leaving, 'held', 4);
    const laterKeys = keysOwnedBy(leaving, 'later', 20);
    for (const key of heldKeys) await publish(key, true);
    const held = await shop.started.until(heldKeys.length);
    expect(held.map((run) => run.app)).toEqual(heldKeys.map(() => leaving.name));

    const left = awaitLeft(staying, leaving);
    let closed = false;
    const closing = leaving.close().then(() => (closed = true));
    await left;

    expect(closed).toBe(false);
    expect(shop.finished.entries).toEqual([]);
    for (const app of staying) {
      const members = app.broker.snapshot().members.map((key) => key.toString());
      expect(members).toHaveLength(3 * POSITIONS);
      expect(members.filter((key) => leaving.positions.has(key))).toEqual([]);
    }

    shop.release.open();
    await closing;
    expect(shop.finished.entries.map((run) => run.app)).toEqual(heldKeys.map(() => leaving.name));
    expect(leaving.broker.counters).toMatchObject({ handled: heldKeys.length, dropped: 0, failed: 0 });

    const before = seq;
    for (const key of laterKeys) await publish(key);
    const runs = (await awaitAllFinished(shop, seq)).filter((run) => run.seq >= before);
    for (const run of runs) {
      const owner = staying[0]!.broker.ownerOf(run.key)!.toString();
      expect({ app: run.app, owner: run.owner }).toEqual({ app: staying.find((app) => app.positions.has(owner))!.name, owner });
    }
    expect(shop.errors).toEqual([]);
  });

  it('loses no message published while an app shuts down, whether it entered through that app or was forwarded to it', async () => {
    const [leaving, ...staying] = handlers.slice(1) as [FlowApp, ...FlowApp[]];
    const leavingKeys = keysOwnedBy(leaving, 'busy', 20);
    const left = awaitLeft(staying, leaving);
    const closing = leaving.close();
    for (let i = 0; i < 300; i++) await publish(i % 2 === 0 ? leavingKeys[i % leavingKeys.length]! : `elsewhere-${i}`);
    await Promise.all([left, closing]);

    await awaitAllFinished(shop, seq);
    expect(leaving.broker.counters.dropped).toBe(0);
    expect(shop.errors).toEqual([]);
  });
});
