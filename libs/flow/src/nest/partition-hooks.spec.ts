import { Controller, Inject, Injectable } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { MemoryBus, OwnershipChange } from '../core';
import { normalize, subtract, toIntervals } from '../core/key-ranges';
import { APP_NAME, closeAll, FlowTestApp, RECORDER, Recorder, startFlowApp, startFlowApps } from '../../test/flow-apps';
import { FlowContext } from './flow.context';
import { OnPartitionsAcquired, OnPartitionsReleased } from './partition-hooks';
import { StreamHandler } from './stream-handler.decorator';

interface HookCall {
  app: string;
  kind: 'acquired' | 'released';
  change: OwnershipChange;
}

interface Seen {
  app: string;
  key: string;
  epoch: number;
  context: FlowContext;
}

const SEEN = Symbol('SEEN');
/** Apps whose released hook finished its asynchronous flush. */
const flushed: string[] = [];

@Injectable()
class StateStore {
  constructor(
    @Inject(APP_NAME) private readonly app: string,
    @Inject(RECORDER) private readonly calls: Recorder<HookCall>,
  ) {}

  @OnPartitionsAcquired()
  load(change: OwnershipChange): void {
    this.calls.push({ app: this.app, kind: 'acquired', change });
  }

  @OnPartitionsReleased()
  async flush(change: OwnershipChange): Promise<void> {
    this.calls.push({ app: this.app, kind: 'released', change });
    // Asynchronous, like a write to a store: a graceful shutdown waits for it.
    await new Promise((resolve) => setImmediate(resolve));
    flushed.push(this.app);
  }
}

@Controller()
class AccountsController {
  constructor(
    @Inject(APP_NAME) private readonly app: string,
    @Inject(SEEN) private readonly seen: Recorder<Seen>,
  ) {}

  @StreamHandler('accounts')
  handle(@Payload() _payload: unknown, @Ctx() context: FlowContext): void {
    this.seen.push({ app: this.app, key: context.getPartitionKey(), epoch: context.getEpoch(), context });
  }
}

const ranges = (calls: readonly HookCall[], app: string, kind: HookCall['kind']) =>
  toIntervals(calls.filter((call) => call.app === app && call.kind === kind).flatMap((call) => [...call.change.ranges]));

describe('partition lifecycle hooks', () => {
  const bus = new MemoryBus();
  const calls = new Recorder<HookCall>();
  const seen = new Recorder<Seen>();
  const providers = [StateStore, { provide: RECORDER, useValue: calls }, { provide: SEEN, useValue: seen }];
  let apps: FlowTestApp[] = [];

  afterAll(() => closeAll(apps));

  it('a third app acquires exactly what the first two release; epochs increase; isStillOwner flips; leave flushes', async () => {
    apps = await startFlowApps(bus, { controllers: [AccountsController], providers }, ['app-1', 'app-2']);
    const publisher = await startFlowApp({ bus, name: 'publisher' });
    apps.push(publisher);
    const keys = Array.from({ length: 40 }, (_, i) => `acc-${i}`);
    for (const key of keys) await publisher.client.publish('accounts', {}, { key });
    const first = [...(await seen.until(keys.length))];
    const epochs = new Map(['app-1', 'app-2'].map((app) => [app, Math.max(...calls.entries.filter((c) => c.app === app).map((c) => c.change.epoch))]));
    for (const entry of first) {
      expect(entry.context.isStillOwner()).toBe(true);
      expect(entry.epoch).toBeLessThanOrEqual(epochs.get(entry.app) as number);
    }
    calls.entries.length = 0;

    const viaServer: OwnershipChange[] = [];
    const off = apps[0].server.on('partitionsReleased', (change) => void viaServer.push(change));
    const third = await startFlowApp({ bus, name: 'app-3', controllers: [AccountsController], providers });
    apps.push(third);
    await bus.idle();
    await Promise.resolve();

    const gained = ranges(calls.entries, 'app-3', 'acquired');
    const releasedBy1 = ranges(calls.entries, 'app-1', 'released');
    const releasedBy2 = ranges(calls.entries, 'app-2', 'released');
    expect(gained.length).toBeGreaterThan(0);
    // app-3 first owned the whole ring alone, then released what it learned others own: its net gain is what they gave up.
    const owned3 = subtract(gained, ranges(calls.entries, 'app-3', 'released'));
    expect(owned3.length).toBeGreaterThan(0);
    expect(normalize([...releasedBy1, ...releasedBy2])).toEqual(owned3);
    expect(toIntervals(viaServer.flatMap((change) => [...change.ranges]))).toEqual(releasedBy1);
    off();
    expect(ranges(calls.entries, 'app-1', 'acquired')).toEqual([]);
    expect(ranges(calls.entries, 'app-2', 'acquired')).toEqual([]);
    for (const call of calls.entries.filter((c) => c.app !== 'app-3')) expect(call.change.epoch).toBeGreaterThan(epochs.get(call.app) as number);

    const moved = first.filter((entry) => !entry.context.isStillOwner());
    expect(moved.length).toBeGreaterThan(0);
    expect(moved.length).toBeLessThan(first.length);
    const positions3 = new Set(third.broker.snapshot().positions.map(String));
    for (const entry of moved) expect(positions3.has(String(apps[0].broker.ownerOf(entry.key)))).toBe(true);

    // The moved keys now run on app-3, with the epoch at which it acquired their ranges.
    const epochs3 = calls.entries.filter((c) => c.app === 'app-3' && c.kind === 'acquired').map((c) => c.change.epoch);
    for (const entry of moved) await publisher.client.publish('accounts', {}, { key: entry.key });
    const again = (await seen.until(keys.length + moved.length)).slice(keys.length);
    for (const entry of again) {
      expect(entry.app).toBe('app-3');
      expect(epochs3).toContain(entry.epoch);
      expect(entry.context.isStillOwner()).toBe(true);
    }

    // Graceful leave: the released hook runs (and is awaited) before app-3 is closed; the others acquire exactly that.
    calls.entries.length = 0;
    flushed.length = 0;
    await third.app.close();
    apps.splice(apps.indexOf(third), 1);
    expect(flushed).toEqual(['app-3']);
    expect(ranges(calls.entries, 'app-3', 'released')).toEqual(owned3);
    for (const entry of again) expect(entry.context.isStillOwner()).toBe(false);
    await bus.idle();
    await Promise.resolve();
    expect(normalize([...ranges(calls.entries, 'app-1', 'acquired'), ...ranges(calls.entries, 'app-2', 'acquired')])).toEqual(owned3);
  });
});
