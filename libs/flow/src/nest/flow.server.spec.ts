import { Controller, Inject } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { MemoryBus } from '../core';
import { FlowContext } from './flow.context';
import { FlowRecordBuilder } from './flow-record';
import { FlowStatus } from './broker-host';
import { APP_NAME, closeAll, FlowTestApp, RECORDER, Recorder, startFlowApp, startFlowApps } from '../../test/flow-apps';
import { RequestHandler, StreamHandler } from './stream-handler.decorator';

interface Handled {
  app: string;
  key: string;
  owner: string;
  seq: number;
}

/** Yields to the event loop `turns` times, so handlers of one key would interleave if the server let them. */
async function yieldTurns(turns: number): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

@Controller()
class LedgerController {
  constructor(
    @Inject(APP_NAME) private readonly app: string,
    @Inject(RECORDER) private readonly recorder: Recorder<Handled>,
  ) {}

  @StreamHandler('deposits')
  async deposit(@Payload() payload: { seq: number }, @Ctx() ctx: FlowContext): Promise<void> {
    await yieldTurns((payload.seq * 7) % 5);
    this.recorder.push({ app: this.app, key: ctx.getPartitionKey(), owner: ctx.getOwner(), seq: payload.seq });
  }

  @RequestHandler('balance')
  async balance(@Payload() query: { account: string }, @Ctx() ctx: FlowContext) {
    await yieldTurns(1);
    return { account: query.account, app: this.app, owner: ctx.getOwner(), request: ctx.isRequest() };
  }
}

describe('FlowServer over the embedded transport', () => {
  const bus = new MemoryBus();
  const recorder = new Recorder<Handled>();
  let apps: FlowTestApp[];
  let publisher: FlowTestApp;

  beforeAll(async () => {
    const providers = [{ provide: RECORDER, useValue: recorder }];
    apps = await startFlowApps(bus, { controllers: [LedgerController], providers }, ['ledger-1', 'ledger-2', 'ledger-3']);
    publisher = await startFlowApp({ bus, name: 'publisher' });
  });

  afterAll(() => closeAll([...apps, publisher]));

  it('joins each app that serves handlers to one ring', () => {
    for (const { broker } of apps) {
      expect(broker.snapshot()).toMatchObject({ joined: true });
      expect(broker.snapshot().members).toHaveLength(3 * 8);
    }
  });

  it('keeps a publisher-only app off the ring: it owns nothing', () => {
    const snapshot = publisher.broker.snapshot();
    expect(snapshot.joined).toBe(false);
    expect(snapshot.positions).toHaveLength(0);
    expect(apps[0].broker.ownerOf('any-key')).toBeDefined();
    expect(publisher.broker.ownerOf('any-key')).toBeUndefined();
  });

  it('hands every keyed message to the owner of its key, once, in publish order per key', async () => {
    const keys = Array.from({ length: 12 }, (_, i) => `acc-${i}`);
    const total = 96;
    for (let seq = 0; seq < total; seq++) {
      await publisher.client.publish('deposits', { seq }, { key: keys[seq % keys.length] });
    }
    const handled = await recorder.until(total);

    expect(handled.map((entry) => entry.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i));
    for (const key of keys) {
      const forKey = handled.filter((entry) => entry.key === key);
      const owner = apps[0].broker.ownerOf(key)!.toString();
      expect(new Set(forKey.map((entry) => entry.owner))).toEqual(new Set([owner]));
      const ownerApp = apps.find((app) => app.broker.snapshot().positions.some((position) => position.toString() === owner));
      expect(new Set(forKey.map((entry) => entry.app))).toEqual(new Set([ownerApp!.name]));
      expect(forKey.map((entry) => entry.seq)).toEqual([...forKey.map((entry) => entry.seq)].sort((a, b) => a - b));
    }
    expect(apps.filter((app) => handled.some((entry) => entry.app === app.name))).toHaveLength(3);
  });

  it('replies to a request from the owner of its key', async () => {
    const reply = await publisher.client.request<{ account: string; app: string; owner: string; request: boolean }>(
      'balance',
      { account: 'acc-7' },
      { key: 'acc-7' },
    );
    expect(reply).toMatchObject({ account: 'acc-7', request: true, owner: apps[0].broker.ownerOf('acc-7')!.toString() });
  });

  it('carries the key of a FlowRecord given to emit() and send()', async () => {
    const before = recorder.entries.length;
    publisher.client.emit('deposits', new FlowRecordBuilder({ seq: 1000 }).setKey('acc-record').build());
    const [entry] = (await recorder.until(before + 1)).slice(before);
    expect(entry).toMatchObject({ key: 'acc-record', owner: apps[0].broker.ownerOf('acc-record')!.toString() });

    const reply = await new Promise((resolve, reject) =>
      publisher.client
        .send('balance', new FlowRecordBuilder({ account: 'acc-record' }).setKey('acc-record').build())
        .subscribe({ next: resolve, error: reject }),
    );
    expect(reply).toMatchObject({ owner: entry.owner });
  });

  it('reports its status and forwards broker events through on()', async () => {
    const statuses: string[] = [];
    apps[0].server.status.subscribe((status) => statuses.push(status)).unsubscribe();
    expect(statuses).toEqual([FlowStatus.Connected]);

    const joined: string[] = [];
    const off = apps[0].server.on('joined', (key) => joined.push(key.toString()));
    const late = await startFlowApp({ bus, name: 'ledger-4', controllers: [LedgerController], providers: [{ provide: RECORDER, useValue: new Recorder() }] });
    await bus.idle();
    off();
    expect(joined.sort()).toEqual(late.broker.snapshot().positions.map((key) => key.toString()).sort());
    await late.app.close();
    await bus.idle();
  });

  it('returns the broker from unwrap()', () => {
    expect(apps[1].server.unwrap()).toBe(apps[1].broker);
  });
});
