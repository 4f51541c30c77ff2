import { ManualClock } from '../testing/manual-clock';
import { Broker } from './broker';
import { decodeFrame, FrameType } from './frame';
import { MemoryBus } from './memory-pubsub';
import type { BrokerOptions } from './options';

const ACK_TIMEOUT = 50;
const noop = (): void => undefined;

/**
 * After the event loop stalls (a long GC pause, a starved CPU), Node runs the
 * timers that fell due before it reads the socket: a timeout and the answer
 * it waits for are both due, and the timeout runs first. Here every INFO to
 * the new broker is held back, then put on the bus (arrived, not yet read)
 * just before the manual clock reaches the timeout.
 */
describe('a timeout that falls due with the answer it waits for (a stalled event loop)', () => {
  const brokers: Broker[] = [];
  afterEach(async () => {
    for (const broker of brokers.splice(0).reverse()) await broker.close();
  });

  /** Holds back every INFO to `to`; `arrive()` puts them on the bus, unread, and stops holding. */
  function holdInfos(bus: MemoryBus, to: string): { arrive: () => void } {
    const held: { subject: string; data: Uint8Array }[] = [];
    bus.setFault((delivery) => (delivery.to === to && decodeFrame(delivery.data).type === FrameType.Info ? (held.push(delivery), 'drop') : 'deliver'));
    const network = bus.connect('network');
    return {
      arrive: () => {
        bus.setFault(undefined);
        for (const { subject, data } of held) network.publish(subject, data);
      },
    };
  }

  type Start = (name: string, handles: boolean, before?: (broker: Broker) => void) => Promise<Broker>;

  async function setUp(): Promise<{ bus: MemoryBus; clock: ManualClock; start: Start }> {
    const clock = new ManualClock();
    const bus = new MemoryBus({ clock });
    const options: BrokerOptions = { clock, virtualNodes: 4, ackTimeout: ACK_TIMEOUT, stabilization: { interval: 0 } };
    const start: Start = async (name, handles, before) => {
      const broker = new Broker(bus.connect(name), { ...options, nodeName: name });
      brokers.push(broker);
      before?.(broker);
      if (handles) await broker.handle('orders', noop);
      await broker.start();
      await bus.idle();
      return broker;
    };
    await start('a', true);
    await start('b', true);
    return { bus, clock, start };
  }

  it('lets a joiner read the ring that came with its learning timeout before it settles: it never takes the whole ring', async () => {
    const { bus, clock, start } = await setUp();
    const infos = holdInfos(bus, 'c');
    const known: number[] = [];
    const joiner = await start('c', true, (broker) => broker.on('acquired', () => void known.push(broker.snapshot().members.length)));
    // Still learning: it holds what it receives and owns nothing yet.
    expect(known).toEqual([]);

    infos.arrive();
    clock.advance(ACK_TIMEOUT);
    await bus.idle();
    // Before, the timer ended learning first: the joiner settled knowing its own 4 positions, owning every key.
    expect(known[0]).toBe(12);
    expect(joiner.snapshot().members).toHaveLength(12);
  });

  it("lets a publisher read the view answer that came with its wait's timeout: its first keyed publish goes direct, not through the queue group", async () => {
    const { bus, clock, start } = await setUp();
    const infos = holdInfos(bus, 'p');
    const publisher = await start('p', false);
    const published = publisher.publish('orders', new Uint8Array(8), { key: 'k' });
    infos.arrive();
    clock.advance(ACK_TIMEOUT);
    await bus.idle();
    await published;
    expect(publisher.snapshot().members).toHaveLength(8);
    // Before, the wait ended first and the publish took the queue group: no order relative to later direct ones.
    expect(publisher.counters.viaQueueGroup).toBe(0);
    expect(publisher.counters.forwarded).toBe(1);
  });
});
