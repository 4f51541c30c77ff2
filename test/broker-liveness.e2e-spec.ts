/**
 * Proof of life is an answer: with default options (256 virtual nodes, 500 ms
 * ackTimeout, 10 s stabilization) and an operator's plain subscriber on
 * `<clique>.>` (which keeps a dead broker's node subjects subscribed, so NATS
 * never answers no-responders), a broker killed with SIGKILL still leaves
 * every survivor's ring, within the bound the in-memory convergence spec
 * proves on a manual clock (core/broker-convergence.spec.ts).
 */
import { connect, type NatsConnection } from 'nats';
import { startNatsServer, type NatsServer } from './harness/nats-server';
import { BrokerFleet } from './support/broker-fleet';
import type { BrokerProcess } from './support/broker-process';
import { awaitConvergence } from './support/clique-waits';
import { sameMembers } from './support/ring-view';
import { handlerConfig } from './support/worker-configs';

const POSITIONS = 256;
/** interval + (MAX_SILENT_PROBES + 1) * ackTimeout with defaults, as in the convergence spec. */
const BOUND_MS = 12_500;
/** Real time on a shared machine: process scheduling and the transport on top of the virtual bound. */
const SLACK_MS = 3_000;

describe('a broker killed with SIGKILL while an operator subscribes <clique>.> (default options)', () => {
  const fleet = new BrokerFleet();
  let server: NatsServer;
  let operator: NatsConnection;
  let handlers: BrokerProcess[];
  let seenByOperator = 0;

  beforeAll(async () => {
    server = await startNatsServer();
    const nats = { servers: server.url };
    // Subscribed before any broker starts: the identity check wants an answer from a twin, not a subscriber.
    operator = await connect({ servers: server.url });
    operator.subscribe('_global.>', { callback: () => seenByOperator++ });
    await operator.flush();
    handlers = await Promise.all([1, 2, 3].map((i) => fleet.launch(`broker-${i}`, handlerConfig(nats, `liveness-node-${i}`, {}))));
    await awaitConvergence(handlers, 3 * POSITIONS, 40_000);
    for (const handler of handlers) expect(handler.problems).toEqual([]);
  }, 60_000);

  afterAll(async () => {
    await operator?.close();
    await fleet.stop();
    await server?.stop();
  });

  it(`is removed from every survivor's ring within ${BOUND_MS} ms (+${SLACK_MS} ms slack), and the rings agree`, async () => {
    const [first, victim, last] = handlers as [BrokerProcess, BrokerProcess, BrokerProcess];
    const victimPositions = new Set((await victim.snapshot()).positions);
    const survivors = [first, last];
    const seenBefore = seenByOperator;

    const killedAt = Date.now();
    await victim.kill();
    const views = await awaitConvergence(survivors, 2 * POSITIONS, BOUND_MS + SLACK_MS);
    const elapsed = Date.now() - killedAt;

    expect(elapsed).toBeLessThanOrEqual(BOUND_MS + SLACK_MS);
    expect(sameMembers(views)).toBe(true);
    expect(views.flatMap((v) => v.members).filter((m) => victimPositions.has(m))).toEqual([]);
    // The operator really saw the clique's frames (probes to the dead broker among them).
    expect(seenByOperator).toBeGreaterThan(seenBefore);
  }, 40_000);
});
