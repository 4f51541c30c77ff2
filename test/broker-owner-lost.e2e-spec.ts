/**
 * Requests in waves of 300, while the broker that owns a third of them is
 * killed with SIGKILL during one wave, on real nats-server. Each request ends as: answered,
 * failed fast with FLOW_OWNER_LOST, or timed out; none is sent to a second owner (a request runs
 * at most once). Failing fast must beat the timeout by far; timing out is left only to
 * requests nobody but the dead broker ever held.
 */
import { startNatsServer, type NatsServer } from './harness/nats-server';
import { BrokerFleet } from './support/broker-fleet';
import type { BrokerProcess } from './support/broker-process';
import { awaitConvergence } from './support/clique-waits';
import type { RequestOutcome } from './support/worker-protocol';
import { FAST_TIMERS, handlerConfig, publisherConfig, REQUEST_STREAM } from './support/worker-configs';

/** Requests go out in waves of WAVE at once; the owner dies during wave KILL_WAVE. */
const WAVES = 20;
const WAVE = 300;
const KILL_WAVE = 8;
const REQUESTS = WAVES * WAVE;
/** Each handler takes this long, so that a whole wave is in flight when the owner dies. */
const HANDLER_MS = 200;
const REQUEST_TIMEOUT = 5_000;
const POLL_LIMIT = 400;
/** Victim handlers running when it is killed: forwards to it have been acknowledged. */
const KILL_AT_IN_FLIGHT = 40;

interface RequestSplit {
  succeeded: number;
  /** Forwards the survivors routed again after the kill: none, a request goes to one owner at most. */
  rerouted: number;
  failedFast: number;
  timedOut: number;
  other: number;
  /** The slowest FLOW_OWNER_LOST, ms after its request was sent. */
  slowestFailFastMs: number;
}

function split(outcomes: readonly RequestOutcome[], rerouted: number): RequestSplit {
  const failed = (code: string) => outcomes.filter((o) => !o.ok && o.error.code === code);
  const failedFast = failed('FLOW_OWNER_LOST');
  const succeeded = outcomes.filter((o) => o.ok).length;
  const timedOut = failed('FLOW_TIMEOUT').length;
  return {
    succeeded,
    rerouted,
    failedFast: failedFast.length,
    timedOut,
    other: outcomes.length - succeeded - failedFast.length - timedOut,
    slowestFailFastMs: Math.max(0, ...failedFast.map((o) => (o.ok ? 0 : o.elapsedMs))),
  };
}

describe('requests in flight when their owner is killed with SIGKILL (real NATS)', () => {
  const fleet = new BrokerFleet();
  let server: NatsServer;
  let handlers: BrokerProcess[];
  let requester: BrokerProcess;

  beforeAll(async () => {
    server = await startNatsServer();
    const nats = { servers: server.url };
    const broker = { ...FAST_TIMERS, clique: 'owner-lost' };
    [handlers, requester] = await Promise.all([
      Promise.all([1, 2, 3].map((i) => fleet.launch(`broker-${i}`, handlerConfig(nats, `owner-lost-${i}`, broker)))),
      fleet.launch('requester', publisherConfig(nats, 'owner-lost-requester', broker)),
    ]);
    await awaitConvergence(handlers, 3 * FAST_TIMERS.virtualNodes, 30_000);
  });

  afterAll(async () => {
    await fleet.stop();
    await server?.stop();
  });

  it('answers or fails fast with FLOW_OWNER_LOST, sends none to a second owner; only what the dead broker alone held times out', async () => {
    const victim = handlers[1]!;
    const survivors = handlers.filter((h) => h !== victim);
    const retriedBefore = (await Promise.all(survivors.map((s) => s.counters()))).reduce((n, c) => n + c.retried, 0);
    const wave = (w: number) =>
      Array.from({ length: WAVE }, (_, i) => ({
        key: `account-${w * WAVE + i}`,
        body: { mode: 'delay' as const, text: `r${w * WAVE + i}`, delayMs: HANDLER_MS },
      }));
    const outcomes: RequestOutcome[] = [];
    for (let w = 0; w < WAVES; w++) {
      const running = requester.requests(REQUEST_STREAM, REQUEST_TIMEOUT, wave(w));
      if (w === KILL_WAVE) {
        // Kill once the victim runs handlers of this wave: its requests are then queued, forwarded and running.
        let polls = 0;
        while ((await victim.counters()).inFlight < KILL_AT_IN_FLIGHT && polls++ < POLL_LIMIT);
        expect(polls).toBeLessThan(POLL_LIMIT);
        await victim.kill();
      }
      outcomes.push(...(await running));
    }
    const retriedAfter = (await Promise.all(survivors.map((s) => s.counters()))).reduce((n, c) => n + c.retried, 0);

    const result = split(outcomes, retriedAfter - retriedBefore);
    expect(result.other).toBe(0);
    expect(result.rerouted).toBe(0);
    expect(result.succeeded + result.failedFast + result.timedOut).toBe(REQUESTS);
    expect(result.failedFast).toBeGreaterThan(0);
    // Only the wave in flight at the kill is touched.
    expect(result.failedFast + result.timedOut).toBeLessThanOrEqual(WAVE);
    expect(result.slowestFailFastMs).toBeLessThan(REQUEST_TIMEOUT / 2);
    // Timing out is left to requests of the wave in flight that the victim itself took from the stream
    // (a queue member's share, a third) and had not forwarded or answered: nobody else ever held them.
    expect(result.timedOut).toBeLessThanOrEqual(Math.ceil(WAVE / 3));
    expect([requester, ...survivors].map((w) => w.alive)).toEqual([true, true, true]);
  });
});
