/**
 * Broker identities and hash modes across processes on one real nats-server:
 * a duplicate node name or a live ring position is refused at start (the live
 * broker reports the attempt), statefulset-style names that Go flow's hash
 * confuses get distinct keys by default, and brokers with different
 * partitionHash modes refuse to route to each other instead of splitting keys.
 * An operator's plain subscriber on `<clique>.>` is no twin: only an answer is.
 */
import { connect } from 'nats';
import { keyFromString } from 'nestjs-flow/core';
import { ringPositions } from '../libs/flow/src/core/virtual-nodes';
import { startNatsServer, type NatsServer } from './harness/nats-server';
import { BrokerFleet } from './support/broker-fleet';
import { WorkerCommandError } from './support/broker-process';
import { awaitConvergence } from './support/clique-waits';
import { FAST_TIMERS, handlerConfig } from './support/worker-configs';

const WAIT_MS = 20_000;

async function startFailure(start: Promise<unknown>): Promise<WorkerCommandError> {
  try {
    await start;
  } catch (error) {
    if (error instanceof WorkerCommandError) return error;
    throw error;
  }
  throw new Error('the start was expected to fail');
}

describe('broker identities and hash modes across processes', () => {
  const fleet = new BrokerFleet();
  let server: NatsServer;

  beforeAll(async () => {
    server = await startNatsServer();
  });

  afterAll(async () => {
    await fleet.stop();
    await server?.stop();
  });

  it('refuses a second process with the same nodeName, and the live process reports the attempt', async () => {
    const nats = { servers: server.url };
    const config = handlerConfig(nats, 'dup-node', { ...FAST_TIMERS, clique: 'dup' });
    const live = await fleet.launch('dup-live', config);
    const before = await live.snapshot();

    const twin = await fleet.spawn('dup-twin');
    const failure = await startFailure(twin.start({ ...config, journal: fleet.journalFor('dup-twin') }));
    expect(failure.wire.code).toBe('FLOW_NODE_CONFLICT');
    expect(failure.wire.message).toContain(`node key ${before.nodeKey}`);
    expect(failure.wire.message).toContain('nodeName "dup-node"');

    await live.until((w) => w.problems.length > 0, WAIT_MS, 'the live broker to report the conflict');
    expect(live.problems).toHaveLength(1);
    expect(live.problems[0]).toMatchObject({ code: 'FLOW_NODE_CONFLICT' });
    expect(live.problems[0].message).toContain('tried to join clique "dup"');
    const after = await live.snapshot();
    expect(after.members).toEqual(before.members);
    await twin.close().catch(() => undefined);
    await live.close();
  });

  it('refuses a process whose explicit node key puts a ring position on a live one', async () => {
    const nats = { servers: server.url };
    const nodeKey = keyFromString('position-owner');
    const taken = ringPositions(nodeKey, FAST_TIMERS.virtualNodes)[5];
    // A broker whose only position is position 5 of the newcomer.
    const holder = await fleet.launch('position-holder', {
      nats,
      broker: { ...FAST_TIMERS, clique: 'positions', virtualNodes: 1, nodeKey: String(taken) },
      messageStreams: ['orders'],
      requestStreams: [],
    });
    const newcomer = await fleet.spawn('position-newcomer');
    const failure = await startFailure(
      newcomer.start({
        nats,
        broker: { ...FAST_TIMERS, clique: 'positions', nodeKey: String(nodeKey) },
        messageStreams: ['orders'],
        requestStreams: [],
        journal: fleet.journalFor('position-newcomer'),
      }),
    );
    expect(failure.wire.code).toBe('FLOW_NODE_CONFLICT');
    expect(failure.wire.message).toContain(`ring position ${taken} is already live`);
    await holder.until((w) => w.problems.length > 0, WAIT_MS, 'the holder to report the conflict');
    expect(holder.problems[0].message).toContain(`tried to join clique "positions" with key ${taken}`);
    await newcomer.close().catch(() => undefined);
    await holder.close();
  });

  it("starts and converges a clique whose <clique>.> an operator subscribed first, and still refuses a twin", async () => {
    const nats = { servers: server.url };
    const operator = await connect({ servers: server.url });
    let seenByOperator = 0;
    operator.subscribe('watched.>', { callback: () => seenByOperator++ });
    await operator.flush();
    try {
      const workers = await Promise.all(
        [1, 2, 3].map((i) => fleet.launch(`watched-${i}`, handlerConfig(nats, `watched-node-${i}`, { ...FAST_TIMERS, clique: 'watched' }))),
      );
      await awaitConvergence(workers, 3 * FAST_TIMERS.virtualNodes, WAIT_MS);
      for (const worker of workers) expect(worker.problems).toEqual([]);
      // The operator saw the identity checks (and everything after), which no broker took for a twin.
      expect(seenByOperator).toBeGreaterThan(0);

      const twin = await fleet.spawn('watched-twin');
      const config = handlerConfig(nats, 'watched-node-2', { ...FAST_TIMERS, clique: 'watched' });
      const failure = await startFailure(twin.start({ ...config, journal: fleet.journalFor('watched-twin') }));
      expect(failure.wire.code).toBe('FLOW_NODE_CONFLICT');
      expect(failure.wire.message).toContain('is already live (a broker (instance');
      await workers[1].until((w) => w.problems.length > 0, WAIT_MS, 'the live broker to report the conflict');
      expect(workers[1].problems[0].message).toContain('tried to join clique "watched"');
      await twin.close().catch(() => undefined);
      await Promise.all(workers.map((w) => w.close()));
    } finally {
      await operator.close();
    }
  });

  it('gives statefulset pod names that differ only in bytes 24..31 three node keys and one ring by default', async () => {
    const nats = { servers: server.url };
    const names = ['ledger-worker-statefulset-pod-01', 'ledger-worker-statefulset-pod-02', 'ledger-worker-statefulset-pod-03'];
    const workers = await Promise.all(
      names.map((name, i) => fleet.launch(`pod-${i + 1}`, handlerConfig(nats, name, { ...FAST_TIMERS, clique: 'pods' }))),
    );
    const views = await awaitConvergence(workers, 3 * FAST_TIMERS.virtualNodes, WAIT_MS);
    expect(new Set(views.map((v) => v!.nodeKey)).size).toBe(3);
    for (const worker of workers) expect(worker.problems).toEqual([]);
    await Promise.all(workers.map((w) => w.close()));
  });

  it('keeps brokers with different partitionHash modes off each other’s rings and reports it on both', async () => {
    const nats = { servers: server.url };
    const standard = await fleet.launch('mode-standard', handlerConfig(nats, 'mode-a', { ...FAST_TIMERS, clique: 'modes' }));
    const legacy = await fleet.launch(
      'mode-legacy',
      handlerConfig(nats, 'mode-b', { ...FAST_TIMERS, clique: 'modes', partitionHash: 'go-flow' }),
    );
    for (const worker of [standard, legacy]) {
      await worker.until((w) => w.problems.length > 0, WAIT_MS, `${worker.label} to report the other mode`);
      expect(worker.problems[0].code).toBe('FLOW_INCOMPATIBLE_MEMBER');
      expect(worker.problems[0].message).toContain('partitionHash');
      const view = await worker.snapshot();
      expect([...view.members].sort()).toEqual([...view.positions].sort());
    }
    await Promise.all([standard.close(), legacy.close()]);
  });
});
