import { createMemoryClique, MemoryClique } from '../testing';
import { ManualClock } from '../testing/manual-clock';
import { seededRandom } from '../testing/seeded-random';
import { FlowError } from './errors';
import { decodeFrame, encodeFrame, FrameType } from './frame';
import { Key } from './key';
import { Broker } from './broker';
import { MemoryBus, MemoryPubSub } from './memory-pubsub';
import { MAX_REMOTE_MEMBERS, maxNewPerInfo } from './admission';
import { resolveBrokerOptions } from './options';

const ACK_TIMEOUT = 100;
const INTERVAL = 1_000;

/** Lets the bus deliver and the probes' promises settle (no timer runs). */
async function settle(clique: MemoryClique): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await clique.bus.idle();
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Moves the manual clock in `step` ms steps, letting the bus settle after each, until `done` or `limitMs`. Returns the ms taken. */
async function advanceUntil(clock: ManualClock, clique: MemoryClique, done: () => boolean, limitMs: number, step = 10): Promise<number> {
  let elapsed = 0;
  await settle(clique);
  while (!done() && elapsed < limitMs) {
    clock.advance(step);
    elapsed += step;
    await settle(clique);
  }
  return elapsed;
}

const ringSizes = (clique: MemoryClique): number[] => clique.brokers.map((b) => b.snapshot().members.length);

describe('membership bounds', () => {
  let clique: MemoryClique | undefined;
  afterEach(async () => {
    await clique?.close();
    clique = undefined;
  });

  it('lets one INFO add at most successors + 2 + virtualNodes unknown positions, and reports the rest', async () => {
    const errors: FlowError[] = [];
    const clock = new ManualClock();
    const options = { virtualNodes: 1, clock, stabilization: { interval: 0 }, onError: (error: FlowError) => errors.push(error) };
    clique = await createMemoryClique({ size: 1, options, setup: (broker) => broker.handle('orders', () => undefined) });
    const [broker] = clique.brokers;
    const bound = maxNewPerInfo(resolveBrokerOptions(options));
    expect(bound).toBe(5 + 2 + 1);
    const neighbours = Array.from({ length: 2_000 }, (_, i) => new Key(0x10000000 + i, i));
    clique.bus.connect('attacker').publish(`_global.${broker.nodeKey}`, encodeFrame({ type: FrameType.Info, id: 0, neighbours }));
    await settle(clique);

    expect(broker.snapshot().members).toHaveLength(1 + bound);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'FLOW_OVERLOADED' });
    expect(errors[0].message).toContain(`listed 2000 unknown, kept ${bound}`);
  });

  it('keeps at most MAX_REMOTE_MEMBERS remote positions however many INFOs arrive, and reports it', async () => {
    const errors: FlowError[] = [];
    const clock = new ManualClock();
    const options = { virtualNodes: 4096, clock, stabilization: { interval: 0 }, onError: (error: FlowError) => errors.push(error) };
    clique = await createMemoryClique({ size: 1, options, setup: (broker) => broker.handle('orders', () => undefined) });
    const [broker] = clique.brokers;
    const bound = maxNewPerInfo(resolveBrokerOptions(options));
    const frames = Math.ceil(MAX_REMOTE_MEMBERS / bound) + 1;
    const attacker = clique.bus.connect('attacker');
    for (let f = 0; f < frames; f++) {
      const neighbours = Array.from({ length: bound }, (_, i) => new Key(0x10000000 + f, i));
      attacker.publish(`_global.${broker.nodeKey}`, encodeFrame({ type: FrameType.Info, id: 0, neighbours }));
    }
    await settle(clique);

    expect(broker.snapshot().members).toHaveLength(MAX_REMOTE_MEMBERS + 4096);
    expect(errors[0]).toMatchObject({ code: 'FLOW_OVERLOADED' });
    expect(errors[0].message).toContain('ring members');
  });
});

describe('forged and stale ring positions', () => {
  let clique: MemoryClique | undefined;
  afterEach(async () => {
    await clique?.close();
    clique = undefined;
  });

  async function threeBrokers(
    clock: ManualClock,
    errors: FlowError[] = [],
    partitionHash: 'murmur3' | 'go-flow' = 'murmur3',
  ): Promise<MemoryClique> {
    const created = await createMemoryClique({
      size: 3,
      options: {
        partitionHash,
        virtualNodes: 8,
        clock,
        ackTimeout: ACK_TIMEOUT,
        stabilization: { interval: INTERVAL },
        onError: (error) => errors.push(error),
      },
      setup: (broker) => broker.handle('orders', () => undefined),
    });
    await advanceUntil(clock, created, () => created.isConverged(), 10 * ACK_TIMEOUT);
    expect(created.isConverged()).toBe(true);
    return created;
  }

  it('drops 2,000 positions forged by INFO on every node subject within 2 ackTimeouts, in batches, for good', async () => {
    const clock = new ManualClock();
    const errors: FlowError[] = [];
    clique = await threeBrokers(clock, errors);
    const truth = clique.expectedMembers().map(String);
    const random = seededRandom(0xf0a9ed);
    const forged = Array.from({ length: 2_000 }, () => new Key(random.int(2 ** 32), random.int(2 ** 32)));
    const info = encodeFrame({ type: FrameType.Info, id: 0, neighbours: forged });
    const attacker = clique.bus.connect('attacker');
    for (const broker of clique.brokers) for (const position of broker.snapshot().positions) attacker.publish(`_global.${position}`, info);
    await settle(clique);

    // Each INFO added at most its bound; the rings grew, but by a bounded amount.
    const bound = 5 + 2 + 8;
    const grown = ringSizes(clique);
    expect(grown.every((n) => n > truth.length)).toBe(true);
    expect(grown.every((n) => n <= truth.length + 3 * 8 * bound)).toBe(true);

    const took = await advanceUntil(clock, clique, () => clique!.isConverged(), 20 * ACK_TIMEOUT);
    expect(clique.isConverged()).toBe(true);
    expect(took).toBeLessThanOrEqual(2 * ACK_TIMEOUT);
    expect(clique.brokers.map((b) => b.snapshot().members.map(String))).toEqual(Array(3).fill(truth));
    // Batches: one report per broker of the removal (not one per position).
    const removals = errors.filter((e) => e.message.includes('have no subscriber'));
    expect(removals.length).toBeGreaterThanOrEqual(3);
    expect(removals.length).toBeLessThanOrEqual(3 * Math.ceil((3 * 8 * bound) / 64));

    // Stays converged through stabilization rounds and past every ban.
    await advanceUntil(clock, clique, () => false, 12 * INTERVAL, 100);
    expect(clique.brokers.map((b) => b.snapshot().members.map(String))).toEqual(Array(3).fill(truth));
  });

  it('never admits positions forged by JOIN without a capability announcement (the default hash mode)', async () => {
    const clock = new ManualClock();
    clique = await threeBrokers(clock);
    const truth = clique.expectedMembers().map(String);
    const attacker = clique.bus.connect('attacker');
    for (let i = 0; i < 500; i++) attacker.publish('_global', encodeFrame({ type: FrameType.Join, sender: new Key(0xabc00000 + i, i) }));
    await settle(clique);
    expect(clique.brokers.map((b) => b.snapshot().members.map(String))).toEqual(Array(3).fill(truth));
  });

  it("drops positions forged by JOIN within 2 ackTimeouts in 'go-flow' mode, where silent JOINs are Go members", async () => {
    const clock = new ManualClock();
    clique = await threeBrokers(clock, [], 'go-flow');
    const truth = clique.expectedMembers().map(String);
    const attacker = clique.bus.connect('attacker');
    for (let i = 0; i < 500; i++) attacker.publish('_global', encodeFrame({ type: FrameType.Join, sender: new Key(0xabc00000 + i, i) }));
    await settle(clique);
    expect(ringSizes(clique)).toEqual(Array(3).fill(truth.length + 500));

    const took = await advanceUntil(clock, clique, () => clique!.isConverged(), 20 * ACK_TIMEOUT);
    expect(clique.isConverged()).toBe(true);
    expect(took).toBeLessThanOrEqual(2 * ACK_TIMEOUT);
  });

  /** Records every subscriber probe (PubSub.hasSubscribers) on the memory bus: which connection asked, for which subject. */
  function recordProbes(): { by: MemoryPubSub; subject: string }[] {
    const probes: { by: MemoryPubSub; subject: string }[] = [];
    const original = MemoryPubSub.prototype.hasSubscribers;
    jest.spyOn(MemoryPubSub.prototype, 'hasSubscribers').mockImplementation(function (this: MemoryPubSub, subject: string) {
      probes.push({ by: this, subject });
      return original.call(this, subject);
    });
    return probes;
  }

  afterEach(() => jest.restoreAllMocks());

  it('checks the positions a Flow broker announces with one probe, not one per position', async () => {
    const clock = new ManualClock();
    const probes = recordProbes();
    clique = await threeBrokers(clock);
    // Past every position check (they start an ackTimeout after the positions arrive).
    await advanceUntil(clock, clique, () => false, 5 * ACK_TIMEOUT);

    const nodeSubjectOf = new Map<string, number>();
    clique.brokers.forEach((broker, i) => broker.snapshot().positions.forEach((p) => nodeSubjectOf.set(`_global.${p}`, i)));
    const positionProbes = probes.filter((probe) => nodeSubjectOf.has(probe.subject));
    // Each broker learns the 8 positions of each other broker and probes one of them per broker (before: all 8).
    for (const [i, connection] of clique.connections.entries()) {
      const probedNodes = positionProbes.filter((probe) => probe.by === connection).map((probe) => nodeSubjectOf.get(probe.subject)!);
      expect(probedNodes.sort()).toEqual([0, 1, 2].filter((j) => j !== i));
    }
  });

  it('removes every position of a broker that crashed before its positions were checked, after one probe of one of them', async () => {
    const clock = new ManualClock();
    const errors: FlowError[] = [];
    clique = await threeBrokers(clock, errors);
    const truth = clique.expectedMembers().map(String);
    const connection = clique.bus.connect('broker-short-lived');
    const shortLived = new Broker(connection, { nodeName: 'short-lived', virtualNodes: 8, clock, ackTimeout: ACK_TIMEOUT, stabilization: { interval: INTERVAL } });
    await shortLived.handle('orders', () => undefined);
    await shortLived.start();
    await settle(clique);
    expect(ringSizes(clique)).toEqual(Array(3).fill(truth.length + 8));

    // It crashes (no LEAV) before anyone checked its positions; stabilization is INTERVAL away.
    const probes = recordProbes();
    connection.kill();
    const took = await advanceUntil(clock, clique, () => ringSizes(clique!).every((n) => n === truth.length), INTERVAL / 2);
    expect(took).toBeLessThanOrEqual(2 * ACK_TIMEOUT);
    expect(clique.brokers.map((b) => b.snapshot().members.map(String))).toEqual(Array(3).fill(truth));
    const shortLivedSubjects = new Set(shortLived.snapshot().positions.map((p) => `_global.${p}`));
    const probesOfIt = probes.filter((probe) => shortLivedSubjects.has(probe.subject));
    expect(probesOfIt.map((probe) => clique!.connections.indexOf(probe.by)).sort()).toEqual([0, 1, 2]);
    await shortLived.close();
  });

  it('answers a LEAV forged for its own position with a JOIN, so every ring holds it again at once', async () => {
    const clock = new ManualClock();
    clique = await threeBrokers(clock);
    const truth = clique.expectedMembers().map(String);
    const victim = clique.brokers[1].snapshot().positions[3];
    const left: string[] = [];
    clique.brokers[0].on('left', (key) => left.push(String(key)));
    clique.bus.connect('attacker').publish('_global', encodeFrame({ type: FrameType.Leave, node: victim }));
    await settle(clique);

    expect(left).toEqual([String(victim)]);
    expect(clique.brokers.map((b) => b.snapshot().members.map(String))).toEqual(Array(3).fill(truth));
  });
});

describe('the answer to a JOIN', () => {
  it('lists the neighbours of its first position as they are now, then each of its positions, every key once', async () => {
    const bus = new MemoryBus();
    const clock = new ManualClock();
    const options = { clock, virtualNodes: 16, ackTimeout: ACK_TIMEOUT, stabilization: { interval: 0 } };
    const listed: string[][] = [];
    bus.setFault((d) => {
      const frame = decodeFrame(d.data);
      if (d.from === 'member' && d.to === 'joiner' && frame.type === FrameType.Info && frame.id === 0) listed.push(frame.neighbours.map(String));
      return 'deliver';
    });
    const brokers: Broker[] = [];
    // The member answers the other's JOINs first, while it is alone, then the joiner's.
    for (const nodeName of ['member', 'other', 'joiner']) {
      const broker = new Broker(bus.connect(nodeName), { ...options, nodeName });
      brokers.push(broker);
      await broker.handle('orders', () => undefined);
      await broker.start();
      await bus.idle();
    }
    const [member, other] = brokers.map((broker) => broker.snapshot());
    // One answer per JOIN the joiner sent (one per position), each listing the same keys.
    expect(listed).toHaveLength(16);
    const answer = listed[0]!;
    const own = member!.positions.map(String);
    expect(new Set(answer).size).toBe(answer.length);
    // First the neighbours of its first position (that position last among them), then its other positions in order.
    const around = answer.slice(0, answer.indexOf(own[0]!) + 1);
    expect(around.length).toBeLessThanOrEqual(resolveBrokerOptions().stabilization.successors + 2);
    expect(answer.slice(around.length)).toEqual(own.filter((position) => !around.includes(position)));
    // Among the neighbours now, positions of the other member (a ring of 32 positions): not the answer it got itself.
    expect(around.some((key) => other!.positions.map(String).includes(key))).toBe(true);
    for (const broker of brokers) await broker.close();
  });
});
