/**
 * Nest apps with FlowModule on a real nats-server: three handler apps form
 * a clique, a fourth app only publishes. Keyed events and requests run on
 * the app that owns their key, one at a time per key.
 */
import { Controller, Inject } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { FlowContext, RequestHandler, StreamHandler } from 'nestjs-flow';
import { startNatsServer, type NatsServer } from './harness/nats-server';
import { APP_NAME, appAt, closeApps, startFlowApp, type FlowApp } from './support/nest/flow-app';
import { Recorder } from './support/nest/recorder';
import { awaitRing } from './support/nest/ring-waits';

const POSITIONS = 3 * 16;
const LEDGER = Symbol('LEDGER');

interface Entry {
  readonly seq: number;
  /** setImmediate turns the handler takes: lets handlers of other keys run in between. */
  readonly turns: number;
}

interface Handled {
  readonly app: string;
  readonly key: string;
  /** FlowContext.getOwner(): the ring position the message was routed to. */
  readonly owner: string;
  /** FlowContext.getNodeKey(): the node key of the broker that ran the handler. */
  readonly nodeKey: string;
  readonly seq: number;
}

/** What the handlers of every app in this process saw. */
class Ledger {
  readonly handled = new Recorder<Handled>();
  /** Keys whose handler is running now, over all apps. */
  readonly running = new Set<string>();
  readonly overlaps: string[] = [];
  maxRunning = 0;
  /** What a raw handler received: the constructors of its payload and of its key's bytes. */
  readonly rawTypes: string[] = [];
}

function yieldTurns(turns: number): Promise<void> {
  let turn: Promise<void> = Promise.resolve();
  for (let i = 0; i < turns; i++) turn = turn.then(() => new Promise<void>((resolve) => setImmediate(resolve)));
  return turn;
}

@Controller()
class LedgerController {
  constructor(
    @Inject(APP_NAME) private readonly app: string,
    @Inject(LEDGER) private readonly ledger: Ledger,
  ) {}

  @StreamHandler('ledger.entries')
  async record(@Payload() entry: Entry, @Ctx() context: FlowContext): Promise<void> {
    const key = context.getPartitionKey();
    const { running } = this.ledger;
    if (running.has(key)) this.ledger.overlaps.push(`${key}#${entry.seq}`);
    running.add(key);
    this.ledger.maxRunning = Math.max(this.ledger.maxRunning, running.size);
    await yieldTurns(entry.turns);
    running.delete(key);
    this.ledger.handled.push({ app: this.app, key, owner: context.getOwner(), nodeKey: context.getNodeKey(), seq: entry.seq });
  }

  @RequestHandler('ledger.reverse', { raw: true })
  reverse(@Payload() data: Uint8Array, @Ctx() context: FlowContext): Uint8Array {
    this.ledger.rawTypes.push(data.constructor.name, context.getPartitionKeyBytes().constructor.name);
    return data.slice().reverse();
  }

  @RequestHandler('ledger.balance')
  balance(@Payload() query: { account: string }, @Ctx() context: FlowContext): { app: string; owner: string; account: string } {
    return { app: this.app, owner: context.getOwner(), account: query.account };
  }
}

function counted(apps: readonly FlowApp[], counter: 'retried' | 'dropped' | 'failed'): number {
  return apps.reduce((sum, app) => sum + app.broker.counters[counter], 0);
}

describe('Flow apps on a real nats-server: routing by partition key', () => {
  let server: NatsServer;
  const ledger = new Ledger();
  const handlers: FlowApp[] = [];
  let publisher: FlowApp;

  beforeAll(async () => {
    server = await startNatsServer();
    for (const name of ['ledger-1', 'ledger-2', 'ledger-3']) {
      handlers.push(
        await startFlowApp({
          servers: server.url,
          name,
          controllers: [LedgerController],
          providers: [{ provide: LEDGER, useValue: ledger }],
        }),
      );
    }
    publisher = await startFlowApp({ servers: server.url, name: 'ledger-publisher' });
    await awaitRing(handlers, POSITIONS);
  });

  afterAll(async () => {
    await closeApps([...handlers, publisher]);
    await server?.stop();
  });

  it('handles each keyed event once, on the app whose ring position owns the key, one at a time per key', async () => {
    const total = 600;
    for (let seq = 0; seq < total; seq++) {
      await publisher.client.publish('ledger.entries', { seq, turns: seq % 4 }, { key: `account-${seq % 120}` });
    }
    const handled = await ledger.handled.until(total);

    expect(new Set(handled.map((entry) => entry.seq)).size).toBe(total);
    for (const entry of handled) {
      const owner = handlers[0]!.broker.ownerOf(entry.key)!.toString();
      const app = appAt(handlers, owner);
      expect({ key: entry.key, owner: entry.owner, app: entry.app, nodeKey: entry.nodeKey }).toEqual({
        key: entry.key,
        owner,
        app: app.name,
        nodeKey: app.broker.nodeKey.toString(),
      });
    }
    const appsByKey = new Map<string, Set<string>>();
    for (const entry of handled) appsByKey.set(entry.key, (appsByKey.get(entry.key) ?? new Set()).add(entry.app));
    expect([...appsByKey.values()].every((apps) => apps.size === 1)).toBe(true);
    expect(new Set(handled.map((entry) => entry.app))).toEqual(new Set(['ledger-1', 'ledger-2', 'ledger-3']));
    expect(ledger.overlaps).toEqual([]);
    expect(ledger.maxRunning).toBeGreaterThan(1);
    // No forward was retried, so no event can have run a second time later.
    expect(counted(handlers, 'retried')).toBe(0);
    expect(counted(handlers, 'dropped')).toBe(0);
    expect(counted(handlers, 'failed')).toBe(0);
  });

  it('answers requests from the app that owns the key, whichever app sends them', async () => {
    const accounts = Array.from({ length: 90 }, (_, i) => `customer-${i}`);
    const requesters = [publisher, ...handlers];
    const replies = await Promise.all(
      accounts.map((account, i) =>
        requesters[i % requesters.length]!.client.request<{ app: string; owner: string; account: string }>(
          'ledger.balance',
          { account },
          { key: account },
        ),
      ),
    );

    replies.forEach((reply, i) => {
      const owner = handlers[0]!.broker.ownerOf(accounts[i]!)!.toString();
      expect(reply).toEqual({ app: appAt(handlers, owner).name, owner, account: accounts[i] });
    });
    expect(new Set(replies.map((reply) => reply.app)).size).toBe(3);
  });

  it('hands raw handlers and raw replies plain Uint8Arrays over NATS, as the embedded transport does', async () => {
    const reply = await publisher.client.request<Uint8Array>('ledger.reverse', new Uint8Array([1, 2, 3]), { key: 'acct-raw', raw: true });

    expect([...reply]).toEqual([3, 2, 1]);
    // A Buffer would turn `toString()` into text on NATS only: the handler and the caller see one type on both transports.
    expect(reply.constructor).toBe(Uint8Array);
    expect(ledger.rawTypes).toEqual(['Uint8Array', 'Uint8Array']);
  });

  it('keeps a publisher-only app off the ring while it publishes and requests', async () => {
    const snapshot = publisher.broker.snapshot();
    expect(snapshot).toMatchObject({ joined: false, positions: [] });
    // Its members are the ring it sees for direct publishing, never itself.
    expect(snapshot.members.map(String)).toEqual(handlers[0]!.broker.snapshot().members.map(String));
    expect(publisher.broker.ownerOf('account-1')).toBeUndefined();
    for (const app of handlers) {
      expect(app.broker.snapshot().members).toHaveLength(POSITIONS);
      expect(app.broker.snapshot().members.map((key) => key.toString())).not.toContain(snapshot.nodeKey.toString());
    }

    const before = ledger.handled.entries.length;
    await publisher.client.publish('ledger.entries', { seq: 10_000, turns: 0 }, { key: 'account-publisher' });
    const reply = await publisher.client.request<{ app: string }>('ledger.balance', { account: 'a' }, { key: 'account-publisher' });
    const [entry] = (await ledger.handled.until(before + 1)).slice(before);

    expect(entry).toMatchObject({ key: 'account-publisher', seq: 10_000 });
    expect(reply.app).toBe(entry!.app);
    expect(publisher.broker.counters).toMatchObject({ handled: 0, received: 0 });
  });

  it('reports the publisher as healthy but not joined, and the handler apps as joined with their positions', () => {
    expect(publisher.health.check().flow).toEqual({
      status: 'up',
      connected: true,
      joined: false,
      // The ring it sees for direct publishing.
      ringSize: POSITIONS,
      positions: 0,
      conflicts: 0,
      incompatibleMembers: 0,
    });
    expect(handlers[0]!.health.check().flow).toEqual({
      status: 'up',
      connected: true,
      joined: true,
      ringSize: POSITIONS,
      positions: 16,
      conflicts: 0,
      incompatibleMembers: 0,
    });
  });
});
