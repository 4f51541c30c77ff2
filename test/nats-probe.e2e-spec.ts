import { connect as connectV3 } from '@nats-io/transport-node';
import { connectNats, NatsPubSub, type NatsConnectionLike } from 'nestjs-flow/nats';
import { startNatsServer, type NatsServer } from './harness/nats-server';

/**
 * The liveness probe a broker uses before suspecting a silent owner: a
 * subject with no subscriber answers "no responders" at once, whatever the
 * client generation; a subscribed one lets the probe time out.
 */
describe('NatsPubSub.hasSubscribers', () => {
  let server: NatsServer;
  const opened: NatsPubSub[] = [];
  const probe = new Uint8Array([1, 2, 3]);

  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((pubsub) => pubsub.close()));
  });
  afterAll(async () => {
    await server.stop();
  });

  async function adapters(kind: 'nats v2' | 'transport-node v3'): Promise<[NatsPubSub, NatsPubSub]> {
    const make = async (): Promise<NatsPubSub> => {
      if (kind === 'nats v2') return connectNats({ servers: server.url });
      const connection: NatsConnectionLike = await connectV3({ servers: server.url });
      return NatsPubSub.fromConnection(connection, { owned: true });
    };
    const pair: [NatsPubSub, NatsPubSub] = [await make(), await make()];
    opened.push(...pair);
    return pair;
  }

  it.each(['nats v2', 'transport-node v3'] as const)('tells a subscribed subject from a deserted one (%s)', async (kind) => {
    const [prober, member] = await adapters(kind);
    const received: Uint8Array[] = [];
    member.subscribe('clique.alive', {}, (_subject, data) => received.push(data));
    await member.flush();

    const started = Date.now();
    expect(await prober.hasSubscribers('clique.gone', probe, 2_000)).toBe(false);
    // "No responders" comes back at once, long before the 2 s timeout.
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(await prober.hasSubscribers('clique.alive', probe, 200)).toBe(true);
    expect(received.map((bytes) => [...bytes])).toEqual([[1, 2, 3]]);
  });

  it('reports a subscriber gone once its connection closes', async () => {
    const [prober, member] = await adapters('nats v2');
    member.subscribe('clique.member', {}, () => undefined);
    await member.flush();
    expect(await prober.hasSubscribers('clique.member', probe, 200)).toBe(true);

    await member.close();
    expect(await prober.hasSubscribers('clique.member', probe, 2_000)).toBe(false);
  });
});
