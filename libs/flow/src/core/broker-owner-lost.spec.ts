import { fromUtf8 } from '../../test/sequence';
import { createMemoryClique, MemoryClique } from '../testing/clique';
import { ManualClock } from '../testing/manual-clock';
import { ErrorCode, FlowError } from './errors';
import { decodeFrame, FrameType } from './frame';

const ACK_TIMEOUT = 100;
const INTERVAL = 1_000;
/** Far beyond the test's horizon: a request settled within it did not time out. */
const REQUEST_TIMEOUT = 60_000;

const utf8 = new TextEncoder();

async function settle(clique: MemoryClique): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await clique.bus.idle();
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

async function advanceUntil(clock: ManualClock, clique: MemoryClique, done: () => boolean, limitMs: number): Promise<number> {
  let elapsed = 0;
  await settle(clique);
  while (!done() && elapsed < limitMs) {
    clock.advance(10);
    elapsed += 10;
    await settle(clique);
  }
  return elapsed;
}

type Outcome = { ok: string } | { code: string };

describe('requests whose owner dies', () => {
  let clique: MemoryClique | undefined;
  afterEach(async () => {
    await clique?.close();
    clique = undefined;
  });

  /** Brokers 0..2 handle `quote`; broker 2's handler never finishes; broker 3 is a publisher-only requester. */
  async function setup(interval = INTERVAL) {
    const clock = new ManualClock();
    const started: string[] = [];
    clique = await createMemoryClique({
      size: 4,
      options: {
        // Requests through the queue group and forwards; direct requests: broker-direct.spec.ts.
        directRouting: false,
        virtualNodes: 8,
        clock,
        ackTimeout: ACK_TIMEOUT,
        requestTimeout: REQUEST_TIMEOUT,
        stabilization: { interval },
      },
      setup: (broker, i) => {
        if (i === 3) return undefined;
        return broker.handleRequest('quote', (d) => {
          started.push(fromUtf8(d.data));
          return i === 2 ? new Promise<Uint8Array>(() => undefined) : d.data;
        });
      },
    });
    await advanceUntil(clock, clique, () => clique!.isConverged(), 20 * ACK_TIMEOUT);
    const c = clique;
    const owned = new Set(c.brokers[2].snapshot().positions.map(String));
    const keysOf2: string[] = [];
    for (let n = 0; keysOf2.length < 30; n++) if (owned.has(String(c.brokers[0].ownerOf(`k-${n}`)))) keysOf2.push(`k-${n}`);
    /** Which broker took each request from the stream (the queue group), by its data. */
    const receivedBy = new Map<string, string>();
    c.bus.setFault((delivery) => {
      if (delivery.subject === 'quote') {
        const frame = decodeFrame(delivery.data);
        if (frame.type === FrameType.Msg) receivedBy.set(fromUtf8(frame.msg.data), delivery.to);
      }
      return 'deliver';
    });
    return { clock, clique: c, started, keysOf2, receivedBy };
  }

  function track(request: Promise<Uint8Array>, outcomes: Map<string, Outcome>, name: string): void {
    request.then(
      (reply) => outcomes.set(name, { ok: fromUtf8(reply) }),
      (error: FlowError) => outcomes.set(name, { code: error.code }),
    );
  }

  it('fails a delivered request with FLOW_OWNER_LOST as soon as its owner is found dead, not at its timeout', async () => {
    const { clock, clique, started, keysOf2, receivedBy } = await setup();
    const requester = clique.brokers[3];
    const outcomes = new Map<string, Outcome>();
    for (const key of keysOf2) track(requester.request('quote', utf8.encode(key), { key }), outcomes, key);
    await advanceUntil(clock, clique, () => started.length === keysOf2.length, 10 * ACK_TIMEOUT);
    expect(started.sort()).toEqual([...keysOf2].sort());

    clique.crash(2);
    // Traffic after the crash finds the owner dead (or stabilization does): keys of other owners go on.
    const took = await advanceUntil(
      clock,
      clique,
      () => keysOf2.every((k) => outcomes.has(k) || receivedBy.get(k) === 'broker-2'),
      3 * INTERVAL,
    );

    const forwarded = keysOf2.filter((k) => receivedBy.get(k) !== 'broker-2');
    const direct = keysOf2.filter((k) => receivedBy.get(k) === 'broker-2');
    expect(forwarded.length).toBeGreaterThan(0);
    expect(direct.length).toBeGreaterThan(0);
    for (const key of forwarded) expect(outcomes.get(key)).toEqual({ code: ErrorCode.OwnerLost });
    // A request taken from the stream by the broker that died has no witness: it waits for its timeout.
    for (const key of direct) expect(outcomes.has(key)).toBe(false);
    expect(took).toBeLessThanOrEqual(2 * INTERVAL + 2 * ACK_TIMEOUT);
    expect(clique.brokers[0].counters.ownerLost + clique.brokers[1].counters.ownerLost).toBe(forwarded.length);
  });

  it('finds the dead owner of waiting requests within a few ackTimeouts without stabilization or other traffic', async () => {
    const { clock, clique, started, keysOf2, receivedBy } = await setup(3_600_000);
    const requester = clique.brokers[3];
    const outcomes = new Map<string, Outcome>();
    for (const key of keysOf2) track(requester.request('quote', utf8.encode(key), { key }), outcomes, key);
    await advanceUntil(clock, clique, () => started.length === keysOf2.length, 10 * ACK_TIMEOUT);
    // Past the check of newly learned positions: nothing but the waiting requests looks at broker 2 any more.
    await advanceUntil(clock, clique, () => false, 5 * ACK_TIMEOUT);

    clique.crash(2);
    const forwarded = keysOf2.filter((k) => receivedBy.get(k) !== 'broker-2');
    const took = await advanceUntil(clock, clique, () => forwarded.every((k) => outcomes.has(k)), 20 * ACK_TIMEOUT);

    expect(forwarded.length).toBeGreaterThan(0);
    for (const key of forwarded) expect(outcomes.get(key)).toEqual({ code: ErrorCode.OwnerLost });
    expect(took).toBeLessThanOrEqual(2 * ACK_TIMEOUT);
  });

  it('fails a forwarded request whose owner died before acknowledging it with FLOW_OWNER_LOST: it is sent to no second owner', async () => {
    // At most once, as a request sent direct: the owner may have taken it and died before its ACK left.
    const { clock, clique, keysOf2, receivedBy } = await setup();
    clique.crash(2);
    const requester = clique.brokers[3];
    const outcomes = new Map<string, Outcome>();
    for (const key of keysOf2) track(requester.request('quote', utf8.encode(key), { key }), outcomes, key);
    const took = await advanceUntil(clock, clique, () => outcomes.size === keysOf2.length, 20 * ACK_TIMEOUT);

    // The crashed broker takes no more from the stream; every request reached a live one and was forwarded to it.
    expect(keysOf2.filter((k) => receivedBy.get(k) === 'broker-2')).toEqual([]);
    for (const key of keysOf2) expect(outcomes.get(key)).toEqual({ code: ErrorCode.OwnerLost });
    expect(took).toBeLessThanOrEqual(4 * ACK_TIMEOUT);
    expect(clique.brokers[0].counters.retried + clique.brokers[1].counters.retried).toBe(0);
    expect(clique.brokers[0].counters.ownerLost + clique.brokers[1].counters.ownerLost).toBe(keysOf2.length);
    // Once the survivors dropped the dead owner, the same keys are answered by their new owner.
    const again = new Map<string, Outcome>();
    for (const key of keysOf2) track(requester.request('quote', utf8.encode(key), { key }), again, key);
    await advanceUntil(clock, clique, () => again.size === keysOf2.length, 20 * ACK_TIMEOUT);
    for (const key of keysOf2) expect(again.get(key)).toEqual({ ok: key });
  });
});
