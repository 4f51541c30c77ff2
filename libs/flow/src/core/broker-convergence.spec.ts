import { GoBrokerStandIn } from '../../test/go-broker';
import { createMemoryClique, MemoryClique } from '../testing/clique';
import { ManualClock } from '../testing/manual-clock';
import { waitFor } from '../testing/wait-for';
import { decodeFrame, FrameType } from './frame';
import { keyFromString } from './key';
import { MAX_SILENT_PROBES } from './liveness';
import { BrokerOptions, resolveBrokerOptions } from './options';

/**
 * Convergence after faults, with the default ackTimeout and stabilization
 * interval on a manual clock (deterministic: the bus delivers between clock steps).
 *
 * The bound: every survivor probes every member node once per interval; a dead
 * node is found at once by no-responders, or after MAX_SILENT_PROBES silent
 * probes (an ackTimeout each) while something else keeps its subject
 * subscribed. So each ring equals the truth within
 * BOUND = interval + (MAX_SILENT_PROBES + 1) * ackTimeout after the fault
 * (after the reconnect for transport faults): 12.5 s with defaults, under two intervals.
 */
const DEFAULTS = resolveBrokerOptions({});
const INTERVAL = DEFAULTS.stabilization.interval;
const ACK_TIMEOUT = DEFAULTS.ackTimeout;
const BOUND = INTERVAL + (MAX_SILENT_PROBES + 1) * ACK_TIMEOUT;
const STEP = 50;

const text = (keys: readonly { toString(): string }[]): string[] => keys.map(String);
const noop = (): void => undefined;

function frameType(data: Uint8Array): string | undefined {
  try {
    return decodeFrame(data).type;
  } catch {
    return undefined;
  }
}

interface Started {
  clique: MemoryClique;
  clock: ManualClock;
}

/** `size` brokers started 1/size of an interval apart (staggered rounds, as in production), converged. */
async function startClique(size: number, options: BrokerOptions = {}): Promise<Started> {
  const clock = new ManualClock();
  const clique = await createMemoryClique({
    size,
    options: { clock, ...options },
    setup: (broker) => broker.handle('orders', noop),
    start: false,
  });
  for (const broker of clique.brokers) {
    await broker.start();
    await clique.bus.idle();
    clock.advance(Math.floor(INTERVAL / size));
  }
  await clique.converged({ clock, stepMs: STEP, timeoutMs: 2 * INTERVAL });
  return { clique, clock };
}

/** Virtual ms until every live broker's ring is the truth (Infinity past `limit`). */
async function timeToConverge({ clique, clock }: Started, limit = 4 * INTERVAL): Promise<number> {
  const t0 = clock.now();
  return waitFor(() => clique.isConverged(), { bus: clique.bus, clock, stepMs: STEP, timeoutMs: limit }).then(
    () => clock.now() - t0,
    () => Infinity,
  );
}

/** Steps the clock through `ms` and fails at the first step where a ring differs from the truth. */
async function staysConverged({ clique, clock }: Started, ms: number): Promise<boolean> {
  for (let t = 0; t < ms; t += 2 * STEP) {
    clock.advance(2 * STEP);
    await clique.bus.idle();
    if (!clique.isConverged()) return false;
  }
  return true;
}

describe('ring convergence after faults (default ackTimeout and interval, manual clock)', () => {
  let started: Started | undefined;
  afterEach(async () => {
    await started?.clique.close();
    started = undefined;
  });

  it('states a bound under two stabilization intervals', () => {
    expect(BOUND).toBe(12_500);
    expect(BOUND).toBeLessThan(2 * INTERVAL);
  });

  it(`removes a crashed broker's 256 positions from every ring within ${BOUND} ms, and they stay removed`, async () => {
    started = await startClique(4);
    const { clique } = started;
    expect(clique.brokers[0].snapshot().members).toHaveLength(4 * 256);
    const survivors = clique.brokers.filter((_, i) => i !== 2);
    const removedBy = survivors.map(() => new Set<string>());
    survivors.forEach((b, i) => {
      b.on('suspected', (key) => removedBy[i].add(String(key)));
      b.on('left', (key) => removedBy[i].add(String(key)));
    });
    const victim = new Set(text(clique.brokers[2].snapshot().positions));

    clique.crash(2);
    const elapsed = await timeToConverge(started);

    expect(elapsed).toBeLessThanOrEqual(BOUND);
    for (const removed of removedBy) expect(removed).toEqual(victim);
    expect(await staysConverged(started, 3 * INTERVAL)).toBe(true);
  }, 60_000);

  it(`removes a crashed broker within ${BOUND} ms while an operator's plain subscriber keeps its node subjects subscribed`, async () => {
    started = await startClique(3, { virtualNodes: 16 });
    const { clique } = started;
    const victim = clique.brokers[1];
    // `nats sub '<clique>.>'`: the in-memory bus has no wildcards, so one plain subscriber per node subject.
    const operator = clique.bus.connect('operator');
    const seen: string[] = [];
    for (const position of victim.snapshot().positions) {
      operator.subscribe(`${clique.brokers[0].clique}.${position}`, {}, (subject) => seen.push(subject));
    }

    clique.crash(1);
    const elapsed = await timeToConverge(started);

    expect(seen.length).toBeGreaterThan(0);
    expect(elapsed).toBeLessThanOrEqual(BOUND);
    expect(await staysConverged(started, 2 * INTERVAL)).toBe(true);
    await operator.close();
  }, 60_000);

  it(`converges within ${BOUND} ms of a nats-server restart (every client loses its subscriptions) and removes nobody for good`, async () => {
    started = await startClique(4, { virtualNodes: 32 });
    const { clique, clock } = started;
    const truth = text(clique.expectedMembers());

    for (const connection of clique.connections) connection.disconnect({ serverLost: true });
    clock.advance(3 * ACK_TIMEOUT + 700);
    await clique.bus.idle();
    // Clients reconnect one after another, as they do after a restart.
    for (const connection of clique.connections) {
      connection.reconnect();
      clock.advance(100);
      await clique.bus.idle();
    }
    const elapsed = await timeToConverge(started);

    expect(elapsed).toBeLessThanOrEqual(BOUND);
    expect(text(clique.expectedMembers())).toEqual(truth);
    expect(await staysConverged(started, 2 * INTERVAL)).toBe(true);
  }, 60_000);

  it(`converges within ${BOUND} ms after a cluster server is lost and its clients reconnect to another`, async () => {
    started = await startClique(5, { virtualNodes: 32 });
    const { clique, clock } = started;
    const truth = text(clique.expectedMembers());
    const moved = [1, 3];

    for (const i of moved) clique.connections[i].disconnect({ serverLost: true });
    // Meanwhile the others' rounds find the moved brokers' subjects without responders.
    clock.advance(INTERVAL + 2 * ACK_TIMEOUT);
    await clique.bus.idle();
    expect(clique.brokers[0].snapshot().members.length).toBeLessThan(truth.length);
    for (const i of moved) clique.connections[i].reconnect();
    const elapsed = await timeToConverge(started);

    expect(elapsed).toBeLessThanOrEqual(BOUND);
    expect(text(clique.expectedMembers())).toEqual(truth);
    expect(await staysConverged(started, 2 * INTERVAL)).toBe(true);
  }, 60_000);

  it('keeps a crashed broker off every ring while a Go member that never hears of it keeps listing it in its INFO', async () => {
    started = await startClique(3, { virtualNodes: 8, partitionHash: 'go-flow' });
    const { clique, clock } = started;
    const goConnection = clique.bus.connect('go');
    const go = new GoBrokerStandIn(goConnection, clique.brokers[0].clique, keyFromString('00000000000000aa'));
    const victim = clique.brokers[2];
    const victimPositions = new Set(text(victim.snapshot().positions));
    let staleInfos = 0;
    clique.bus.setFault((delivery) => {
      // The Go member misses every LEAV, so its view stays stale; count its INFO that list the dead.
      if (delivery.to === 'go' && frameType(delivery.data) === FrameType.Leave) return 'drop';
      if (delivery.from === 'go' && frameType(delivery.data) === FrameType.Info) {
        const frame = decodeFrame(delivery.data);
        if (frame.type === FrameType.Info && frame.neighbours.some((k) => victimPositions.has(String(k)))) staleInfos++;
      }
      return 'deliver';
    });
    go.start();
    await waitFor(() => clique.brokers.every((b) => b.snapshot().members.some((k) => String(k) === String(go.key))), {
      bus: clique.bus,
      clock,
      stepMs: STEP,
      timeoutMs: INTERVAL,
    });
    const live = clique.brokers.slice(0, 2);
    const ringsWithoutVictim = (): boolean =>
      live.every((b) => !b.snapshot().members.some((k) => victimPositions.has(String(k))));

    clique.crash(2);
    await waitFor(ringsWithoutVictim, { bus: clique.bus, clock, stepMs: STEP, timeoutMs: BOUND });
    staleInfos = 0;
    for (let t = 0; t < 10 * INTERVAL; t += 2 * STEP) {
      clock.advance(2 * STEP);
      await clique.bus.idle();
      expect(ringsWithoutVictim()).toBe(true);
    }

    expect(staleInfos).toBeGreaterThan(0);
    go.close();
    await goConnection.close();
  }, 60_000);
});

describe('stabilization cost per broker, not per position (manual clock, frames counted on the bus)', () => {
  let started: Started | undefined;
  afterEach(async () => {
    await started?.clique.close();
    started = undefined;
  });

  /** PING and INFO frames sent per broker per interval, over `rounds` intervals after convergence. */
  async function framesPerInterval(brokers: number, virtualNodes: number, rounds = 3): Promise<{ pings: number[]; infos: number[] }> {
    started = await startClique(brokers, { virtualNodes });
    const { clique, clock } = started;
    // Let announcements settle (members that announce late are queried once).
    clock.advance(2 * INTERVAL);
    await clique.bus.idle();
    const names = clique.connections.map((c) => c.name);
    const pings = names.map(() => 0);
    const infos = names.map(() => 0);
    clique.bus.setFault((delivery) => {
      const i = names.indexOf(delivery.from);
      const type = frameType(delivery.data);
      if (i >= 0 && type === FrameType.Ping) pings[i]++;
      if (i >= 0 && type === FrameType.Info) infos[i]++;
      return 'deliver';
    });
    // Small steps: answers are delivered between them, as they would be in real time.
    for (let t = 0; t < rounds * INTERVAL; t += STEP) {
      clock.advance(STEP);
      await clique.bus.idle();
    }
    return { pings: pings.map((n) => n / rounds), infos: infos.map((n) => n / rounds) };
  }

  it.each([
    [3, 256],
    [3, 16],
    [10, 256],
    [50, 8],
  ])('%i brokers of %i positions: each sends (brokers - 1) PINGs and (brokers - 1) INFO answers per interval', async (brokers, vnodes) => {
    const { pings, infos } = await framesPerInterval(brokers, vnodes);

    expect(pings).toEqual(Array(brokers).fill(brokers - 1));
    expect(infos).toEqual(Array(brokers).fill(brokers - 1));
  }, 120_000);
});
