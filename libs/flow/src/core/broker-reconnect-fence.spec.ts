import { ManualClock } from '../testing/manual-clock';
import { waitFor } from '../testing/wait-for';
import { Broker, Delivery, ERROR_REPORT_INTERVAL } from './broker';
import type { FlowError } from './errors';
import { MemoryBus, MemoryPubSub } from './memory-pubsub';
import type { BrokerOptions } from './options';

const ACK_TIMEOUT = 50;
const INTERVAL = 100;
const utf8 = new TextEncoder();
const text = new TextDecoder();

interface Run {
  readonly broker: string;
  readonly data: string;
  readonly start: number;
  end: number | undefined;
}

/**
 * A broker whose connection goes down may be found dead by the others (on NATS
 * at once: no responders), who then run its keys. It starts no handler while
 * it is down, and after the reconnect it takes its ranges back as a joiner
 * does: nothing it queued runs while a member that ran its keys meanwhile
 * still runs one of them (reconnect-fence.ts).
 */
describe('a broker whose connection was down (reconnect fence)', () => {
  const brokers: Broker[] = [];
  afterEach(async () => {
    for (const broker of brokers.splice(0).reverse()) await broker.close();
  });

  async function setUp(handlers: Record<string, (d: Delivery, run: Run) => void | Promise<void>> = {}) {
    const clock = new ManualClock();
    const bus = new MemoryBus({ clock });
    const options: BrokerOptions = { clock, virtualNodes: 4, ackTimeout: ACK_TIMEOUT, stabilization: { interval: INTERVAL } };
    const runs: Run[] = [];
    const errors: { broker: string; error: FlowError }[] = [];
    const connections = new Map<string, MemoryPubSub>();
    const start = async (name: string, handles: boolean, more: BrokerOptions = {}): Promise<Broker> => {
      const connection = bus.connect(name);
      connections.set(name, connection);
      const broker = new Broker(connection, { ...options, ...more, nodeName: name, onError: (error) => void errors.push({ broker: name, error }) });
      brokers.push(broker);
      if (handles) {
        await broker.handle('orders', (d) => {
          const run: Run = { broker: name, data: text.decode(d.data), start: clock.now(), end: undefined };
          runs.push(run);
          const ran = handlers[name]?.(d, run);
          if (ran === undefined) run.end = clock.now();
          else return ran.then(() => void (run.end = clock.now()));
        });
      }
      await broker.start();
      await bus.idle();
      return broker;
    };
    const a = await start('a', true);
    const b = await start('b', true);
    const publisher = await start('p', false);
    await bus.idle();
    // The publisher learned the same ring: it sends a key's messages to its owner.
    const keyOwnedBy = (owner: Broker): string => {
      const positions = new Set(owner.snapshot().positions.map(String));
      for (let n = 0; n < 10_000; n++) if (positions.has(String(a.ownerOf(`k${n}`)))) return `k${n}`;
      throw new Error(`no key owned by ${owner.nodeKey}`);
    };
    const keysOwnedBy = (owner: Broker, view: Broker, count: number): string[] => {
      const positions = new Set(owner.snapshot().positions.map(String));
      const keys: string[] = [];
      for (let n = 0; keys.length < count && n < 10_000; n++) if (positions.has(String(view.ownerOf(`k${n}`)))) keys.push(`k${n}`);
      return keys;
    };
    const keyOfA = keyOwnedBy(a);
    const sendTo = (key: string, data: string) => void publisher.publish('orders', utf8.encode(data), { key, ack: false });
    const send = (data: string) => sendTo(keyOfA, data);
    return { bus, clock, a, b, publisher, runs, errors, start, keyOwnedBy, keysOwnedBy, send, sendTo, connectionOf: (name: string) => connections.get(name)! };
  }

  // Taken back as on a reconnect (Dispatcher.takeWaiting), but dropped: before, close() let them run here
  // while their publisher sent them to the next owner (seed 73214 with overload: one refused there, whose
  // publish() rejected, ran here).
  it('close() runs nothing of what waited for a handler: the publisher sends it to the next owner, which runs it', async () => {
    const hanging: (() => void)[] = [];
    const { bus, clock, a, publisher, runs, keyOwnedBy } = await setUp({ a: () => new Promise<void>((resolve) => void hanging.push(resolve)) });
    const key = keyOwnedBy(a);
    const published = [1, 2, 3].map((n) => publisher.publish('orders', utf8.encode(`${key}#${n}`), { key }));
    await bus.idle();
    await Promise.all(published);
    // #1 runs on a (and hangs); #2 and #3 wait in its lane.
    expect(runs.map((r) => [r.broker, r.data])).toEqual([['a', `${key}#1`]]);
    await a.close();
    expect(a.counters.dropped).toBe(2);
    for (const resolve of hanging.splice(0)) resolve();
    await waitFor(() => runs.filter((r) => r.broker === 'b').length === 2, { bus, clock, stepMs: 10, timeoutMs: 40 * ACK_TIMEOUT, what: 'b runs what waited' });
    for (let i = 0; i < 5; i++) {
      clock.advance(ACK_TIMEOUT);
      await bus.idle();
    }
    // a ran only what was under way when it closed (and said so); b ran what had waited there, in order, after it.
    expect(runs.filter((r) => r.broker === 'a').map((r) => r.data)).toEqual([`${key}#1`]);
    expect(runs.filter((r) => r.broker === 'b').map((r) => r.data)).toEqual([`${key}#2`, `${key}#3`]);
    expect(runs[1]!.start).toBeGreaterThanOrEqual(runs[0]!.end!);
    expect(publisher.load.publishesUnsettled).toBe(0);
  });

  it('starts nothing while down, and runs what queued, in order, once back', async () => {
    const { bus, clock, runs, send, connectionOf } = await setUp();
    connectionOf('a').disconnect();
    // The server still routes to a's subscriptions in this outage: the messages reach a while it cannot answer.
    for (const data of ['1', '2', '3']) send(data);
    await bus.idle();
    clock.advance(ACK_TIMEOUT / 5);
    await bus.idle();
    expect(runs).toEqual([]);

    connectionOf('a').reconnect();
    await bus.idle();
    expect(runs.map((r) => `${r.broker}:${r.data}`)).toEqual(['a:1', 'a:2', 'a:3']);
  });

  it('runs nothing of a key that the member which took it over meanwhile still runs', async () => {
    let finishB!: () => void;
    const bRunning = new Promise<void>((resolve) => (finishB = resolve));
    const { bus, clock, a, b, runs, send, connectionOf } = await setUp({ b: () => bRunning });
    const suspected: string[] = [];
    b.on('suspected', (position) => suspected.push(String(position)));
    const steps = { bus, clock, stepMs: 10, timeoutMs: 20 * INTERVAL };

    connectionOf('a').disconnect();
    send('1');
    // b finds a dead (four probes in a row unanswered) and takes its keys; the publisher hears b's LEAV.
    await waitFor(() => suspected.length === a.snapshot().positions.length, { ...steps, what: 'a suspected on b' });
    send('2');
    // b asks a (gone silent) for what it runs there, gives up, and runs it.
    await waitFor(() => runs.some((r) => r.broker === 'b'), { ...steps, what: "the key's message run on b" });
    expect(runs.map((r) => `${r.broker}:${r.data}`)).toEqual(['b:2']);

    // a is back: it announces itself, and b gives the key back but still runs it.
    connectionOf('a').reconnect();
    await bus.idle();
    for (let i = 0; i < 4; i++) {
      clock.advance(ACK_TIMEOUT);
      await bus.idle();
    }
    expect(b.snapshot().members.map(String)).toEqual(expect.arrayContaining([...a.snapshot().positions.map(String)]));
    expect(runs.map((r) => `${r.broker}:${r.data}`)).toEqual(['b:2']);

    finishB();
    await waitFor(() => runs.length === 2, { ...steps, what: 'the queued message run on a' });
    const [onB, onA] = runs;
    expect(`${onA.broker}:${onA.data}`).toBe('a:1');
    expect(onB.end).toBeDefined();
    expect(onA.start).toBeGreaterThanOrEqual(onB.end!);
  });

  it("does not wait for the members' own keys when they were all down at once (a server restart)", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const firstOnEach = (d: Delivery) => (text.decode(d.data).endsWith('1') ? gate : undefined);
    const { bus, clock, a, b, runs, keyOwnedBy, sendTo, connectionOf } = await setUp({ a: firstOnEach, b: firstOnEach });
    const [keyOfA, keyOfB] = [keyOwnedBy(a), keyOwnedBy(b)];
    for (const data of ['1', '2']) {
      sendTo(keyOfA, `a${data}`);
      sendTo(keyOfB, `b${data}`);
    }
    await bus.idle();
    expect(runs.map((r) => r.data).sort()).toEqual(['a1', 'b1']);

    // Both connections drop and come back, each with a handler running and one queued behind it.
    for (const name of ['a', 'b']) connectionOf(name).disconnect();
    for (const name of ['a', 'b']) connectionOf(name).reconnect();
    await bus.idle();
    release();
    // Each lists the other its busy lanes: its own keys', which hold nothing of the other's (lanes differ here).
    await waitFor(() => runs.length === 4, { bus, clock, stepMs: 10, timeoutMs: 2 * ACK_TIMEOUT, what: 'the queued messages run' });
    expect(runs.filter((r) => r.broker === 'a').map((r) => r.data)).toEqual(['a1', 'a2']);
    expect(runs.filter((r) => r.broker === 'b').map((r) => r.data)).toEqual(['b1', 'b2']);
    expect(a.counters.handoffsAbandoned + b.counters.handoffsAbandoned).toBe(0);
  });

  it('forwards what waited for keys that a member which joined meanwhile owns now, and runs the rest itself', async () => {
    const { bus, clock, a, runs, start, keysOwnedBy, sendTo, connectionOf } = await setUp();
    const keys = keysOwnedBy(a, a, 40);
    connectionOf('a').disconnect();
    for (const key of keys) sendTo(key, key);
    await bus.idle();
    // c joins while a is away (a hears its JOIN, but cannot answer): it takes part of a's keys.
    const c = await start('c', true);
    for (let i = 0; i < 10; i++) {
      clock.advance(ACK_TIMEOUT);
      await bus.idle();
    }
    expect(runs).toEqual([]);

    connectionOf('a').reconnect();
    await waitFor(() => runs.length === keys.length, { bus, clock, stepMs: 10, timeoutMs: 20 * ACK_TIMEOUT, what: 'every message run once' });
    // By a's view when it came back (every member): the keys c took.
    const positionsOfC = new Set(c.snapshot().positions.map(String));
    const toC = keys.filter((key) => positionsOfC.has(String(a.ownerOf(key))));
    expect(toC.length).toBeGreaterThan(0);
    expect(toC.length).toBeLessThan(keys.length);
    const ranOn = new Map(runs.map((r) => [r.data, r.broker]));
    expect(ranOn.size).toBe(keys.length);
    for (const key of keys) expect([key, ranOn.get(key)]).toEqual([key, toC.includes(key) ? 'c' : 'a']);
  });

  // Before, the waiting broker took the refusal as nothing: the publisher kept
  // its accepted publishes for ever, each retry answered "accepted" again.
  it('tells the publisher when a member which joined meanwhile refuses what waited for its keys', async () => {
    const hanging: (() => void)[] = [];
    const hang = () => new Promise<void>((resolve) => void hanging.push(resolve));
    const { bus, clock, a, publisher, runs, errors, start, keysOwnedBy, connectionOf } = await setUp({ a: hang, c: hang });
    const keys = keysOwnedBy(a, a, 40);
    // Each key's #1 runs on a (and hangs), its #2 waits in a's lane, accepted.
    const accepted = keys.flatMap((key) => [1, 2].map((n) => publisher.publish('orders', utf8.encode(`${key}#${n}`), { key })));
    await bus.idle();
    await Promise.all(accepted);
    expect(runs.map((r) => r.data)).toEqual(keys.map((key) => `${key}#1`));
    connectionOf('a').disconnect();
    await bus.idle();
    // c runs one message at a time and queues one: what a forwards to it beyond that is refused.
    const c = await start('c', true, { concurrency: 1, maxQueuedMessages: 1 });
    for (let i = 0; i < 10; i++) {
      clock.advance(ACK_TIMEOUT);
      await bus.idle();
    }
    connectionOf('a').reconnect();
    const positionsOfC = new Set(c.snapshot().positions.map(String));
    const toC = keys.filter((key) => positionsOfC.has(String(a.ownerOf(key))));
    expect(toC.length).toBeGreaterThan(2);
    const refused = toC.length - 2;
    // a counts each refusal as dropped and passes it on; the publisher reports it (its publish() had resolved).
    await waitFor(() => a.counters.dropped === refused, { bus, clock, stepMs: 10, timeoutMs: 40 * ACK_TIMEOUT, what: 'the refusals' });
    for (let n = 0; n < 100 && publisher.load.publishesUnsettled > 0; n++) {
      for (const resolve of hanging.splice(0)) resolve();
      clock.advance(10);
      await bus.idle();
    }
    expect(publisher.load.publishesUnsettled).toBe(0);
    expect(publisher.counters.refusedLate).toBe(refused);
    // Reports are rate limited: the first at once, the rest counted in one summary.
    clock.advance(ERROR_REPORT_INTERVAL);
    await bus.idle();
    const reports = errors.filter((e) => e.broker === 'p').map((e) => [e.error.code, /^\d+ more/.exec(e.error.message)?.[0]]);
    expect(reports).toEqual([
      ['FLOW_OVERLOADED', undefined],
      ['FLOW_OVERLOADED', `${refused - 1} more`],
    ]);
    // The first report names the publish: its stream and key, one of those a forwarded to c.
    const first = errors.find((e) => e.broker === 'p')!.error;
    const named = /^publish \d+ of stream "orders" with partition key "(k\d+)" was refused after publish\(\) resolved, and was not handled: /.exec(first.message);
    expect(named).not.toBeNull();
    expect(toC).toContain(named![1]);
    expect(first).toMatchObject({ name: 'RemoteError', stream: 'orders' });
    // Two of what a forwarded ran on c; a ran every #1 and the #2 of the keys it kept.
    expect(runs.filter((r) => r.broker === 'c').map((r) => r.data.replace(/k\d+/, 'k'))).toEqual(['k#2', 'k#2']);
    const kept = keys.filter((key) => !toC.includes(key));
    expect(runs.filter((r) => r.broker === 'a').map((r) => r.data).sort()).toEqual([...keys.map((key) => `${key}#1`), ...kept.map((key) => `${key}#2`)].sort());
  });
});
