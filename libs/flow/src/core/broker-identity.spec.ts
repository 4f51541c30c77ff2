import { GoBrokerStandIn } from '../../test/go-broker';
import { ManualClock } from '../testing/manual-clock';
import { waitFor } from '../testing/wait-for';
import { Broker } from './broker';
import { ErrorCode, FlowError, IncompatibleMemberError, NodeConflictError } from './errors';
import { appendAnnouncement, encodeAnnouncement, readAnnouncement } from './capabilities';
import { decodeFrame, encodeFrame, Frame, FrameType } from './frame';
import { Key, keyFromString } from './key';
import { MemoryBus } from './memory-pubsub';
import { BrokerOptions } from './options';
import { IDENTITY_CHECK_HEADER } from './twin-probe';
import { ringPositions } from './virtual-nodes';
import { rejection } from '../../test/rejection';

const noop = (): void => undefined;

/** A broker on its own connection of `bus`, with its errors and conflict events recorded. */
function brokerOn(bus: MemoryBus, options: BrokerOptions) {
  const errors: FlowError[] = [];
  const conflicts: NodeConflictError[] = [];
  const broker = new Broker(bus.connect(), { stabilization: { interval: 0 }, virtualNodes: 4, ...options, onError: (e) => errors.push(e) });
  broker.on('conflict', (error) => conflicts.push(error));
  return { broker, errors, conflicts };
}

const text = (keys: readonly Key[]): string[] => keys.map(String).sort();

/** `open(bus, options)` starts a recorded broker that is closed after each test of the describe block. */
function brokersClosedAfterEach(): (bus: MemoryBus, options: BrokerOptions) => ReturnType<typeof brokerOn> {
  const opened: Broker[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((b) => b.close()));
  });
  return (bus, options) => {
    const recorded = brokerOn(bus, options);
    opened.push(recorded.broker);
    return recorded;
  };
}

describe('broker identity conflicts', () => {
  const open = brokersClosedAfterEach();

  it('refuses to start a second broker with the same nodeName, and the live broker reports the attempt', async () => {
    const bus = new MemoryBus();
    const live = open(bus, { nodeName: 'ledger-1' });
    await live.broker.handle('orders', noop);
    await live.broker.start();
    const ringBefore = text(live.broker.snapshot().members);

    const twin = open(bus, { nodeName: 'ledger-1' });
    await twin.broker.handle('orders', noop);
    const error = await rejection(twin.broker.start());
    await bus.idle();

    expect(error).toBeInstanceOf(NodeConflictError);
    const conflict = error as NodeConflictError;
    expect(conflict.code).toBe(ErrorCode.NodeConflict);
    expect(conflict.nodeKey).toBe(String(live.broker.nodeKey));
    expect(conflict.nodeName).toBe('ledger-1');
    expect(conflict.message).toContain(`node key ${live.broker.nodeKey}`);
    expect(conflict.message).toContain('nodeName "ledger-1"');

    // The refused broker subscribed nothing and is closed; the live one keeps its ring and all keys.
    expect(twin.broker.snapshot().joined).toBe(false);
    await expect(twin.broker.publish('orders', new Uint8Array(1))).rejects.toMatchObject({ code: ErrorCode.Closed });
    expect(text(live.broker.snapshot().members)).toEqual(ringBefore);
    expect(live.conflicts).toHaveLength(1);
    expect(live.conflicts[0].message).toContain('tried to join');
    expect(live.errors.filter((e) => e.code === ErrorCode.NodeConflict)).toHaveLength(1);
    expect(live.broker.identity.report()).toMatchObject({ conflicts: 1 });
    expect(twin.errors).toEqual([]);
  });

  it('refuses a publisher-only broker whose node key is live, since replies to it would cross', async () => {
    const bus = new MemoryBus();
    const live = open(bus, { nodeName: 'api-1' });
    await live.broker.start();
    const publisher = open(bus, { nodeName: 'api-1' });
    await expect(publisher.broker.start()).rejects.toMatchObject({ code: ErrorCode.NodeConflict });
    await bus.idle();
    expect(live.conflicts).toHaveLength(1);
  });

  it('refuses a broker with a distinct node key when one of its ring positions is live', async () => {
    const bus = new MemoryBus();
    const nodeKey = keyFromString('ledger-2');
    const taken = ringPositions(nodeKey, 4)[2];
    // A broker whose one position is position 2 of the newcomer.
    const live = open(bus, { nodeKey: taken, virtualNodes: 1 });
    await live.broker.handle('orders', noop);
    await live.broker.start();

    const newcomer = open(bus, { nodeKey, virtualNodes: 4 });
    await newcomer.broker.handle('orders', noop);
    const error = (await rejection(newcomer.broker.start())) as NodeConflictError;
    await bus.idle();

    expect(error).toBeInstanceOf(NodeConflictError);
    expect(error.key).toBe(String(taken));
    expect(error.nodeKey).toBe(String(nodeKey));
    expect(error.message).toContain(`ring position ${taken} is already live`);
    expect(text(live.broker.snapshot().members)).toEqual([String(taken)]);
    expect(live.conflicts).toHaveLength(1);
    expect(live.conflicts[0].key).toBe(String(taken));
  });

  it('rejects a handler registered after start when a position of the broker is live', async () => {
    const bus = new MemoryBus();
    const nodeKey = keyFromString('late-joiner');
    const live = open(bus, { nodeKey: ringPositions(nodeKey, 4)[1], virtualNodes: 1 });
    await live.broker.handle('orders', noop);
    await live.broker.start();
    const late = open(bus, { nodeKey });
    await late.broker.start();
    await expect(late.broker.handle('orders', noop)).rejects.toMatchObject({ code: ErrorCode.NodeConflict });
    expect(late.broker.snapshot().joined).toBe(false);
  });

  it('reports twins that started at the same instant on both of them', async () => {
    const bus = new MemoryBus();
    const a = open(bus, { nodeName: 'same' });
    const b = open(bus, { nodeName: 'same' });
    await Promise.all([a.broker.handle('orders', noop), b.broker.handle('orders', noop)]);
    // Both probes run before either subscribes: the check cannot see the other; the announcements do.
    await Promise.all([a.broker.start(), b.broker.start()]);
    await bus.idle();
    for (const side of [a, b]) {
      expect(side.conflicts).toHaveLength(1);
      expect(side.conflicts[0].message).toContain('both own the same keys');
      expect(side.broker.identity.report().conflicts).toBe(1);
    }
  });

  it('lets distinct names that Go flow would hash alike start side by side in the default mode', async () => {
    const bus = new MemoryBus();
    const names = ['ledger-worker-statefulset-pod-01', 'ledger-worker-statefulset-pod-02', 'ledger-worker-statefulset-pod-03'];
    const brokers = names.map((nodeName) => open(bus, { nodeName }));
    for (const { broker } of brokers) await broker.handle('orders', noop);
    for (const { broker } of brokers) await broker.start();
    await bus.idle();
    expect(new Set(brokers.map(({ broker }) => String(broker.nodeKey))).size).toBe(3);
    for (const { broker, conflicts, errors } of brokers) {
      expect(broker.snapshot().members).toHaveLength(12);
      expect(conflicts).toEqual([]);
      expect(errors).toEqual([]);
    }
  });
});

describe("broker identity check under an operator's subscriber", () => {
  const open = brokersClosedAfterEach();

  /**
   * `nats sub '_global.>'` before any broker starts. The in-memory bus has no
   * wildcards: the operator subscribes every node subject of `nodeKeys` (node
   * key and ring positions), all that `>` would cover for them.
   */
  function operatorOn(bus: MemoryBus, nodeKeys: readonly Key[], virtualNodes: number) {
    const seen: string[] = [];
    const conn = bus.connect('operator');
    for (const nodeKey of nodeKeys) {
      for (const key of [nodeKey, ...ringPositions(nodeKey, virtualNodes)]) conn.subscribe(`_global.${key}`, {}, (subject) => seen.push(subject));
    }
    return seen;
  }

  it('starts every broker and converges when the operator subscribed first; the check waits one ackTimeout per step', async () => {
    const bus = new MemoryBus();
    const clock = new ManualClock();
    const names = ['op-1', 'op-2', 'op-3'];
    const seen = operatorOn(bus, names.map((name) => keyFromString(name)), 4);
    const brokers = names.map((nodeName) => open(bus, { nodeName, clock, ackTimeout: 100 }));
    for (const { broker } of brokers) await broker.handle('orders', noop);
    const started = brokers.map(({ broker }) => {
      const state = { done: false };
      void broker.start().then(() => (state.done = true));
      return state;
    });
    await bus.idle();
    await new Promise<void>((resolve) => setImmediate(resolve));
    // Subscribed, so no no-responders: silence for an ackTimeout, not the subscriber, decides.
    expect(started.some((s) => s.done)).toBe(false);
    await waitFor(() => started.every((s) => s.done), { bus, clock, stepMs: 10, timeoutMs: 1000, what: 'every start' });
    // Two checks (node key, then positions), one ackTimeout each.
    expect(clock.now()).toBeGreaterThanOrEqual(200);
    await waitFor(() => brokers.every(({ broker }) => broker.snapshot().members.length === 12), { bus, clock, stepMs: 10, what: 'one ring' });
    for (const { broker, conflicts, errors } of brokers) {
      expect(broker.snapshot().joined).toBe(true);
      expect(conflicts).toEqual([]);
      expect(errors).toEqual([]);
    }
    expect(seen.length).toBeGreaterThan(0);
  });

  it('still refuses a second broker with the same nodeName, by the live broker\'s answer, before any ackTimeout', async () => {
    const bus = new MemoryBus();
    const clock = new ManualClock();
    operatorOn(bus, [keyFromString('ledger-1')], 4);
    const live = open(bus, { nodeName: 'ledger-1', clock, ackTimeout: 100 });
    await live.broker.handle('orders', noop);
    const liveStart = live.broker.start();
    await waitFor(() => live.broker.snapshot().joined, { bus, clock, stepMs: 10, what: 'the live broker to join' });
    await liveStart;
    const before = clock.now();

    const twin = open(bus, { nodeName: 'ledger-1', clock, ackTimeout: 100 });
    await twin.broker.handle('orders', noop);
    const error = (await rejection(twin.broker.start())) as NodeConflictError;
    await bus.idle();
    expect(clock.now()).toBe(before);
    expect(error).toBeInstanceOf(NodeConflictError);
    expect(error.message).toContain(`node key ${live.broker.nodeKey} is already live`);
    expect(error.message).toContain(`instance ${live.broker.identity.announcement.instance}`);
    expect(live.conflicts).toHaveLength(1);
    expect(live.conflicts[0].message).toContain('tried to join');
  });

  it('refuses a broker whose node key a publisher-only broker holds, by the publisher\'s answer', async () => {
    const bus = new MemoryBus();
    const clock = new ManualClock();
    operatorOn(bus, [keyFromString('api-1')], 4);
    const publisher = open(bus, { nodeName: 'api-1', clock, ackTimeout: 100 });
    const publisherStart = publisher.broker.start();
    await waitFor(() => clock.now() >= 100, { bus, clock, stepMs: 10, what: 'the publisher check' });
    await publisherStart;
    const before = clock.now();
    const second = open(bus, { nodeName: 'api-1', clock, ackTimeout: 100 });
    await expect(second.broker.start()).rejects.toMatchObject({ code: ErrorCode.NodeConflict });
    expect(clock.now()).toBe(before);
    await bus.idle();
    expect(publisher.conflicts).toHaveLength(1);
  });

  it('has a publisher-only broker answer identity checks only, never a plain PING (a stale ring position stays silent)', async () => {
    const bus = new MemoryBus();
    const publisher = open(bus, { nodeName: 'api-2' });
    await publisher.broker.start();
    const asker = bus.connect('asker');
    const sender = keyFromString('asker');
    const answers: Frame[] = [];
    const announced: unknown[] = [];
    asker.subscribe(`_global.${sender}`, {}, (_subject, data) => {
      answers.push(decodeFrame(data));
      announced.push(readAnnouncement(data)?.instance);
    });
    const at = `_global.${publisher.broker.nodeKey}`;
    asker.publish(at, encodeFrame({ type: FrameType.Ping, id: 7, sender }));
    await bus.idle();
    expect(answers).toEqual([]);
    asker.publish(at, encodeFrame({ type: FrameType.Ping, id: 8, sender }), { [IDENTITY_CHECK_HEADER]: '1' });
    await bus.idle();
    expect(answers).toEqual([{ type: FrameType.Info, id: 8, neighbours: [] }]);
    expect(announced).toEqual([publisher.broker.identity.announcement.instance]);
  });

  it('refuses a Flow broker whose node key a live Go broker holds, by the Go broker\'s INFO answer', async () => {
    const bus = new MemoryBus();
    const goKey = keyFromString('go-1', 'go-flow');
    const go = new GoBrokerStandIn(bus.connect(), '_global', goKey);
    go.start();
    await bus.idle();
    const flow = open(bus, { nodeKey: goKey, partitionHash: 'go-flow' });
    await flow.broker.handle('orders', noop);
    const error = (await rejection(flow.broker.start())) as NodeConflictError;
    expect(error).toBeInstanceOf(NodeConflictError);
    expect(error.message).toContain(`(a broker answered on _global.${goKey})`);
    go.close();
  });
});

describe('broker announcements from the network', () => {
  it('reports a malformed announcement, still admits the JOIN it followed, and carries on', async () => {
    const bus = new MemoryBus();
    const { broker, errors } = brokerOn(bus, { nodeName: 'flow-1', partitionHash: 'go-flow' });
    await broker.handle('orders', noop);
    await broker.start();
    const sender = keyFromString('go-like', 'go-flow');
    const join = encodeFrame({ type: FrameType.Join, sender });
    // Magic, then a body length far beyond the bytes present.
    const trailer = new Uint8Array([0x46, 0x43, 0x41, 0x50, 0xff, 0xff, 1, 0]);
    const raw = new Uint8Array(join.length + trailer.length);
    raw.set(join);
    raw.set(trailer, join.length);
    bus.connect().publish('_global', raw);
    await bus.idle();
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.Protocol]);
    expect(errors[0].message).toContain('malformed announcement');
    expect(text(broker.snapshot().members)).toContain(String(sender));
    await broker.close();
  });
});

describe('broker announcements under a flood', () => {
  it('bounds the work of forged announcements and still learns a real member that joined during the flood', async () => {
    const bus = new MemoryBus();
    const clock = new ManualClock();
    const a = brokerOn(bus, { nodeName: 'flow-a', clock, ackTimeout: 100 });
    await a.broker.handle('orders', noop);
    await a.broker.start();
    const forger = bus.connect();
    for (let i = 0; i < 100; i++) {
      const nodeKey = keyFromString(`forged-${i}`);
      const announcement = { nodeKey, virtualNodes: 4096, partitionHash: 'go-flow' as const, capabilities: 0, instance: nodeKey };
      forger.publish('_global', appendAnnouncement(encodeFrame({ type: FrameType.Join, sender: nodeKey }), encodeAnnouncement(announcement)));
    }
    const b = brokerOn(bus, { nodeName: 'flow-b', clock, ackTimeout: 100 });
    await b.broker.handle('orders', noop);
    await b.broker.start();
    await bus.idle();
    // 16,384 derived positions per second: four forged members of 4096, the rest deferred.
    const incompatible = () => a.errors.filter((e) => e instanceof IncompatibleMemberError) as IncompatibleMemberError[];
    expect(a.broker.identity.report().incompatibleMembers).toBe(4);
    // Reports of network-caused problems are rate limited: the first at once, the rest summarised later.
    expect(incompatible()).toHaveLength(1);

    for (let step = 0; step < 10; step++) {
      clock.advance(400);
      await bus.idle();
    }
    const bPositions = text(b.broker.snapshot().positions);
    expect(text(a.broker.snapshot().members)).toEqual(expect.arrayContaining(bPositions));
    expect(incompatible().map((e) => e.member)).not.toContain(String(b.broker.nodeKey));
    expect(b.errors.filter((e) => e.message.includes(String(a.broker.nodeKey)))).toEqual([]);
    // Forged members never answer and nobody subscribes their subjects: suspected, not taken for Go brokers.
    expect(b.errors.filter((e) => e.message.includes('announced no capabilities'))).toEqual([]);
    expect(text(b.broker.snapshot().members).sort()).toEqual(text([...a.broker.snapshot().positions, ...b.broker.snapshot().positions]).sort());
    await Promise.all([a.broker.close(), b.broker.close()]);
  });

  it('counts every conflict notice but reports at most one per second', async () => {
    const bus = new MemoryBus();
    const clock = new ManualClock();
    const live = brokerOn(bus, { nodeName: 'live', clock });
    await live.broker.start();
    const forger = bus.connect();
    const notice = encodeFrame({ type: FrameType.Ping, id: 0, sender: live.broker.nodeKey });
    for (let i = 0; i < 50; i++) forger.publish(`_global.${live.broker.nodeKey}`, notice);
    await bus.idle();
    expect(live.broker.identity.report().conflicts).toBe(50);
    expect(live.conflicts).toHaveLength(1);
    clock.advance(1000);
    forger.publish(`_global.${live.broker.nodeKey}`, notice);
    await bus.idle();
    expect(live.conflicts).toHaveLength(2);
    await live.broker.close();
  });
});

describe('broker hash modes and Go members', () => {
  const open = brokersClosedAfterEach();

  const incompatible = (errors: FlowError[]) => errors.filter((e): e is IncompatibleMemberError => e instanceof IncompatibleMemberError);

  it('refuses to route to a member with another partitionHash, on both sides, naming the option', async () => {
    const bus = new MemoryBus();
    const standard = open(bus, { nodeName: 'standard' });
    const goFlow = open(bus, { nodeName: 'legacy', partitionHash: 'go-flow' });
    for (const { broker } of [standard, goFlow]) await broker.handle('orders', noop);
    for (const { broker } of [standard, goFlow]) await broker.start();
    await bus.idle();

    expect(text(standard.broker.snapshot().members)).toEqual(text(standard.broker.snapshot().positions));
    expect(text(goFlow.broker.snapshot().members)).toEqual(text(goFlow.broker.snapshot().positions));
    for (const [side, other] of [
      [standard, goFlow],
      [goFlow, standard],
    ] as const) {
      const errors = incompatible(side.errors);
      expect(errors).toHaveLength(1);
      expect(errors[0].code).toBe(ErrorCode.IncompatibleMember);
      expect(errors[0].member).toBe(String(other.broker.nodeKey));
      expect(errors[0].message).toContain('partitionHash');
      expect(side.broker.identity.report().incompatibleMembers).toBe(1);
      // Every key stays with the side's own positions: no forward to the other.
      expect(text(side.broker.snapshot().positions)).toContain(String(side.broker.ownerOf('customer-42')));
    }
  });

  it('agrees with brokers of the same mode and reports nothing', async () => {
    const bus = new MemoryBus();
    const brokers = ['a', 'b', 'c'].map((nodeName) => open(bus, { nodeName, partitionHash: 'go-flow' }));
    for (const { broker } of brokers) await broker.handle('orders', noop);
    for (const { broker } of brokers) await broker.start();
    await bus.idle();
    for (const { broker, errors } of brokers) {
      expect(broker.snapshot().members).toHaveLength(12);
      expect(errors).toEqual([]);
      expect(broker.identity.report().incompatibleMembers).toBe(0);
    }
  });

  it("refuses a Go broker that joins while not in go-flow mode, and suggests partitionHash: 'go-flow'", async () => {
    const bus = new MemoryBus();
    const flow = open(bus, { nodeName: 'flow-1' });
    await flow.broker.handle('orders', noop);
    await flow.broker.start();
    const go = new GoBrokerStandIn(bus.connect(), '_global', keyFromString('go-1', 'go-flow'));
    go.start();
    await bus.idle();

    const errors = incompatible(flow.errors);
    expect(errors).toHaveLength(1);
    expect(errors[0].member).toBe(String(go.key));
    expect(errors[0].message).toContain("partitionHash: 'go-flow'");
    expect(text(flow.broker.snapshot().members)).not.toContain(String(go.key));
    // The Go broker still got its ordinary INFO answer.
    expect(go.received).toContain('INFO');
    go.close();
  });

  it('keeps a Go broker on the ring in go-flow mode, which sends Go ordinary frames', async () => {
    const bus = new MemoryBus();
    const flow = open(bus, { nodeName: 'flow-1', partitionHash: 'go-flow', virtualNodes: 1 });
    await flow.broker.handle('orders', noop);
    await flow.broker.start();
    const go = new GoBrokerStandIn(bus.connect(), '_global', keyFromString('go-1', 'go-flow'));
    go.start();
    await bus.idle();
    expect(text(flow.broker.snapshot().members)).toEqual(text([flow.broker.nodeKey, go.key]));
    expect(flow.errors).toEqual([]);
    go.close();
  });

  it.each([
    ['murmur3', 1],
    ['go-flow', 0],
  ] as const)(
    'in %s mode, finds a Go broker it only heard of through INFO by querying it after the wait (%i refusals)',
    async (partitionHash, refusals) => {
      const bus = new MemoryBus();
      const clock = new ManualClock();
      const go = new GoBrokerStandIn(bus.connect(), '_global', keyFromString('go-early', 'go-flow'));
      go.start();
      await bus.idle();
      const flow = open(bus, { nodeName: 'flow-late', partitionHash, clock, ackTimeout: 100 });
      await flow.broker.handle('orders', noop);
      await flow.broker.start();
      await bus.idle();
      expect(flow.errors.map(String)).toEqual([]);
      // Listed by the Go broker's INFO answer, which carries no announcement: on the ring for now.
      expect(text(flow.broker.snapshot().members)).toContain(String(go.key));
      const pingsBefore = go.received.filter((t) => t === 'PING').length;

      clock.advance(400);
      await bus.idle();
      expect(go.received.filter((t) => t === 'PING').length).toBe(pingsBefore + 1);
      expect(incompatible(flow.errors)).toHaveLength(refusals);
      expect(text(flow.broker.snapshot().members).includes(String(go.key))).toBe(refusals === 0);
      go.close();
    },
  );

  it('declares a silent member Go after the wait and again as long after its query, if it never answers', async () => {
    const bus = new MemoryBus();
    const clock = new ManualClock();
    const flow = open(bus, { nodeName: 'flow-1', clock, ackTimeout: 100 });
    await flow.broker.handle('orders', noop);
    await flow.broker.start();
    // A key listed in an INFO whose owner never speaks (subscribed, so not dead, but mute).
    const mute = keyFromString('mute');
    const other = bus.connect();
    other.subscribe(`_global.${mute}`, {}, noop);
    other.publish(`_global.${flow.broker.nodeKey}`, encodeFrame({ type: FrameType.Info, id: 0, neighbours: [mute] }));
    await bus.idle();
    expect(text(flow.broker.snapshot().members)).toContain(String(mute));
    clock.advance(400);
    await bus.idle();
    expect(incompatible(flow.errors)).toHaveLength(0);
    clock.advance(400);
    // The verdict follows the transport's answer to a probe (the position is subscribed, so not dead).
    await waitFor(() => incompatible(flow.errors).length > 0, { bus, what: 'the silent member to be declared Go' });
    expect(incompatible(flow.errors).map((e) => e.member)).toEqual([String(mute)]);
    expect(incompatible(flow.errors)[0].message).toContain('announced no capabilities within 800 ms');
    expect(text(flow.broker.snapshot().members)).not.toContain(String(mute));
  });
});
