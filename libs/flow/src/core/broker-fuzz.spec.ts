/**
 * Whole brokers under hostile input on the in-memory bus: every frame type on
 * every subject they listen to, ids across the u64 range, truncated, inflated,
 * oversized, random and mutated. Afterwards the clique must be intact and a
 * normal keyed stream delivered in full. Seeded: a failure names its seed.
 */
import { FUZZ_IDS, fuzzFrames } from '../../test/fuzz-frames';
import { fromUtf8 } from '../../test/sequence';
import { createMemoryClique, MemoryClique } from '../testing/clique';
import { ManualClock } from '../testing/manual-clock';
import { seededRandom } from '../testing/seeded-random';
import { ErrorCode, FlowError } from './errors';
import { decodeFrame, encodeFrame, Frame, FrameType } from './frame';

const SEED = 0xf022_0009;
const FRAMES = 6_000;
const ACK_TIMEOUT = 100;
const INTERVAL = 1_000;
const CLEAN = 2_000;

const utf8 = new TextEncoder();

/** Lets the bus deliver and promises settle; no timer runs. */
async function settle(clique: MemoryClique): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await clique.bus.idle();
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

async function advance(clock: ManualClock, clique: MemoryClique, ms: number, step = 50): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    await settle(clique);
  }
}

async function advanceUntil(clock: ManualClock, clique: MemoryClique, done: () => boolean, limitMs: number): Promise<number> {
  let elapsed = 0;
  await settle(clique);
  while (!done() && elapsed < limitMs) {
    clock.advance(50);
    elapsed += 50;
    await settle(clique);
  }
  return elapsed;
}

describe('brokers under fuzzed input (in-memory bus)', () => {
  let clique: MemoryClique | undefined;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => void unhandled.push(reason);
  beforeAll(() => process.on('unhandledRejection', onUnhandled));
  afterAll(() => void process.off('unhandledRejection', onUnhandled));
  afterEach(async () => {
    await clique?.close();
    clique = undefined;
  });

  async function fuzzClique(clock: ManualClock) {
    const errors: FlowError[][] = [[], [], []];
    /** Clean messages by number: how many times each was handled. */
    const handled = new Map<number, number>();
    const created = await createMemoryClique({
      size: 3,
      options: (i) => ({
        nodeName: `fuzz-${i + 1}`,
        virtualNodes: 8,
        clock,
        ackTimeout: ACK_TIMEOUT,
        stabilization: { interval: INTERVAL },
        onError: (error) => errors[i].push(error),
      }),
      setup: async (broker) => {
        await broker.handle('orders', (d) => {
          const text = fromUtf8(d.data);
          if (text.startsWith('clean:')) handled.set(Number(text.slice(6)), (handled.get(Number(text.slice(6))) ?? 0) + 1);
        });
        await broker.handleRequest('quote', (d) => d.data);
      },
    });
    await advanceUntil(clock, created, () => created.isConverged(), 20 * ACK_TIMEOUT);
    expect(created.isConverged()).toBe(true);
    return { clique: created, errors, handled };
  }

  it(`survives ${FRAMES} fuzzed frames on every subject, then delivers a keyed stream in full with intact rings (seed ${SEED.toString(16)})`, async () => {
    const clock = new ManualClock();
    const setup = await fuzzClique(clock);
    clique = setup.clique;
    const { errors, handled } = setup;
    const truth = clique.expectedMembers().map(String);
    const fuzzer = clique.bus.connect('fuzzer');
    const replies: Frame[] = [];
    fuzzer.subscribe('_global.fuzzer', {}, (_s, data) => void replies.push(decodeFrame(data)));
    const frames = fuzzFrames(
      seededRandom(SEED),
      {
        clique: '_global',
        positions: truth,
        messageStream: 'orders',
        requestStream: 'quote',
        replySubject: '_global.fuzzer',
      },
      FRAMES,
    );
    const kinds = new Set(frames.map((f) => f.kind.split(' ')[0]));
    expect([...kinds].sort()).toEqual(['ACK', 'ERR', 'FBAT', 'FWD', 'INFO', 'JOIN', 'LEAV', 'MSG', 'PING', 'random'].sort());
    const subjects = new Set(frames.map((f) => (f.subject.startsWith('_global.') ? 'node' : f.subject)));
    expect([...subjects].sort()).toEqual(['_global', 'node', 'orders', 'quote']);

    for (let i = 0; i < frames.length; i++) {
      fuzzer.publish(frames[i].subject, frames[i].bytes);
      if (i % 200 === 199) await advance(clock, clique, 50);
    }
    // Long enough for every forward to a forged owner to give up and every forged position to be checked.
    await advance(clock, clique, 20 * ACK_TIMEOUT);

    expect(clique.bus.stats.handlerErrors).toBe(0);
    expect(unhandled).toEqual([]);
    // Requests and forwards with ids beyond 2^53 were answered with their exact id.
    expect(replies.some((r) => 'id' in r && typeof r.id === 'bigint')).toBe(true);
    const counters = clique.brokers.map((b) => b.counters);
    expect(counters.reduce((n, c) => n + c.malformed, 0)).toBeGreaterThan(FRAMES / 4);
    expect(counters.map((c) => c.contained)).toEqual([0, 0, 0]);
    // Rate limited: a handful of reports per broker and kind, not one per bad frame.
    for (const list of errors) expect(list.length).toBeLessThan(60);

    const took = await advanceUntil(clock, clique, () => clique!.isConverged(), 20 * ACK_TIMEOUT);
    expect(took).toBeLessThan(20 * ACK_TIMEOUT);
    expect(clique.brokers.map((b) => b.snapshot().members.map(String))).toEqual(Array(3).fill(truth));

    // A normal keyed stream afterwards: every message exactly once, requests answered.
    const [first, second] = clique.brokers;
    for (let n = 0; n < CLEAN; n++) await (n % 2 ? first : second).publish('orders', utf8.encode(`clean:${n}`), { key: `customer-${n % 97}` });
    await advanceUntil(clock, clique, () => handled.size === CLEAN, 20 * ACK_TIMEOUT);
    expect(handled.size).toBe(CLEAN);
    expect([...handled.values()].filter((times) => times !== 1)).toEqual([]);
    const answer = first.request('quote', utf8.encode('still here'), { key: 'k1' });
    await settle(clique);
    expect(fromUtf8(await answer)).toBe('still here');
  }, 60_000);

  it('regression: 20 requests with id 2^60 whose owner crashed fail with FLOW_OWNER_LOST under that id, then are answered under it; nothing thrown', async () => {
    const clock = new ManualClock();
    const setup = await fuzzClique(clock);
    clique = setup.clique;
    const { bus, brokers } = clique;
    const replies: Frame[] = [];
    const requester = bus.connect('requester');
    requester.subscribe('_global.requester', {}, (_s, data) => void replies.push(decodeFrame(data)));
    await settle(clique);
    const crashedPositions = new Set(brokers[2].snapshot().positions.map(String));
    const keys: string[] = [];
    for (let n = 0; keys.length < 20; n++) if (crashedPositions.has(String(brokers[0].ownerOf(`k-${n}`)))) keys.push(`k-${n}`);
    clique.crash(2);

    const id = 2n ** 60n;
    const send = (): void => {
      for (const key of keys) {
        const msg = { id, reply: '_global.requester', stream: 'quote', partitionKey: utf8.encode(key), data: utf8.encode(key) };
        requester.publish('quote', encodeFrame({ type: FrameType.Msg, msg }));
      }
    };
    // Forwarded to the crashed owner: a request goes to no second owner (it may have run there), so each fails fast.
    send();
    await advanceUntil(clock, clique, () => replies.length >= 20, 40 * ACK_TIMEOUT);
    expect(replies).toHaveLength(20);
    for (const reply of replies) expect(reply).toMatchObject({ type: FrameType.Err, id, code: ErrorCode.OwnerLost });
    // The survivors dropped the dead owner: the same requests go to the new owners and are answered.
    send();
    await advanceUntil(clock, clique, () => replies.length >= 40, 40 * ACK_TIMEOUT);

    const answers = replies.slice(20);
    expect(answers).toHaveLength(20);
    for (const reply of answers) expect(reply).toMatchObject({ type: FrameType.Ack, id });
    expect(answers.map((r) => fromUtf8((r as Extract<Frame, { type: 'ACK ' }>).data)).sort()).toEqual([...keys].sort());
    expect(bus.stats.handlerErrors).toBe(0);
    expect(unhandled).toEqual([]);
    expect(brokers.slice(0, 2).map((b) => b.counters.contained)).toEqual([0, 0]);
    expect(brokers.slice(0, 2).reduce((n, b) => n + b.counters.ownerLost, 0)).toBe(20);
    expect(FUZZ_IDS).toContain(id);
  });
});
