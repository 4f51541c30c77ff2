/**
 * One clique spread over a 3-server NATS cluster: each broker process is
 * attached to a different server, so JOIN, INFO, FWD and ACK cross routes.
 */
import { startNatsCluster, waitForRouteInterest, type NatsCluster } from './harness/nats-server';
import { BrokerFleet } from './support/broker-fleet';
import { awaitConvergence, awaitPublisherView } from './support/clique-waits';
import { runKeyedStream } from './support/keyed-stream';
import { handlerConfig, PATIENT_TIMERS, MESSAGE_STREAM, publisherConfig } from './support/worker-configs';

const MESSAGES = 5_000;
const BROKER = PATIENT_TIMERS;

describe('three broker processes attached to the three servers of a NATS cluster', () => {
  const fleet = new BrokerFleet();
  let cluster: NatsCluster;

  beforeAll(async () => {
    cluster = await startNatsCluster(3);
  });

  afterAll(async () => {
    await fleet.stop();
    await cluster?.stop();
  });

  it(`forms one ring and handles each of ${MESSAGES} keyed messages exactly once, on the owner of its key`, async () => {
    const [a, b, c] = cluster.servers;
    const [handlers, publisher] = await Promise.all([
      Promise.all(
        [a!, b!, c!].map((server, i) =>
          fleet.launch(`broker-on-server-${i}`, handlerConfig({ servers: server.url }, `cluster-node-${i}`, BROKER)),
        ),
      ),
      fleet.launch('publisher-on-server-0', publisherConfig({ servers: a!.url }, 'cluster-publisher', BROKER)),
    ]);
    const views = await awaitConvergence(handlers, 3 * BROKER.virtualNodes, 30_000);
    await awaitPublisherView(publisher, 3 * BROKER.virtualNodes, 10_000);
    // The publisher's server must know the queue subscribers on the other servers before the stream starts.
    await waitForRouteInterest(a!, MESSAGE_STREAM, 2);

    const run = await runKeyedStream({
      publisher,
      handlers,
      ring: handlers.map((h, i) => ({ label: h.label, view: views[i]! })),
      count: MESSAGES,
      window: 2_000,
    });

    expect(run.tally.missing).toEqual([]);
    expect(run.tally.duplicates).toBe(0);
    expect(run.misrouted.slice(0, 5)).toEqual([]);
    expect(run.counters.every((c) => c.handled > 0)).toBe(true);
    // Brokers sit on different servers: the publisher's direct FWDs and their notices cross the cluster's routes.
    expect(run.counters.reduce((sum, c) => sum + c.received + c.forwarded, 0)).toBe(0);
  });
});
