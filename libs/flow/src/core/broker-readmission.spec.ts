import { ManualClock } from '../testing/manual-clock';
import { waitFor } from '../testing/wait-for';
import { Broker } from './broker';
import { decodeFrame, FrameType } from './frame';
import { Key } from './key';
import { MemoryBus } from './memory-pubsub';

const INTERVAL = 100;
const noop = (): void => undefined;
const text = (keys: readonly Key[]): string[] => keys.map(String).sort();

describe('admission of a Flow member known by one position', () => {
  it('takes every position its announcement names from one JOIN, before any stabilization round (sim seed 201018)', async () => {
    const bus = new MemoryBus();
    const clock = new ManualClock();
    const options = { clock, virtualNodes: 4, ackTimeout: 50, stabilization: { interval: INTERVAL } };
    const start = async (nodeName: string): Promise<Broker> => {
      const broker = new Broker(bus.connect(nodeName), { ...options, nodeName });
      await broker.handle('orders', noop);
      await broker.start();
      await bus.idle();
      return broker;
    };
    const c = await start('c');
    // a joins; c hears its JOIN for one position only, as with dropped frames.
    let heard: Key | undefined;
    bus.setFault((d) => {
      if (d.to !== 'c' || d.subject !== c.clique) return 'deliver';
      const frame = decodeFrame(d.data);
      if (frame.type !== FrameType.Join) return 'deliver';
      heard ??= frame.sender;
      return frame.sender.equals(heard) ? 'deliver' : 'drop';
    });
    const a = await start('a');
    bus.setFault(undefined);
    expect(heard).toBeDefined();
    expect(text(c.snapshot().members)).toEqual(text([a, c].flatMap((broker) => broker.snapshot().positions)));
    for (const broker of [a, c]) await broker.close();
  });
});

describe('re-admission of a restarted broker whose positions were buried before it was known', () => {
  it('takes back every position of a broker restarted under its name when its JOIN for one was lost (sim seed 65374)', async () => {
    const bus = new MemoryBus();
    const clock = new ManualClock();
    const options = { clock, virtualNodes: 4, ackTimeout: 50, stabilization: { interval: INTERVAL } };
    const firstA = bus.connect('a#1');
    const start = async (connection: string, nodeName: string): Promise<Broker> => {
      const broker = new Broker(connection === 'a#1' ? firstA : bus.connect(connection), { ...options, nodeName });
      await broker.handle('orders', noop);
      await broker.start();
      await bus.idle();
      return broker;
    };
    const a = await start('a#1', 'a');
    const b = await start('b', 'b');
    const positions = a.snapshot().positions;
    firstA.kill();

    // c joins while b still lists a: it learns a's positions from b alone, never a's announcement, and
    // buries them (no subscriber, or b's LEAV) under their own texts.
    const c = await start('c', 'c');
    const buried = new Set<string>();
    c.on('suspected', (key) => buried.add(String(key)));
    c.on('left', (key) => buried.add(String(key)));
    const steps = { bus, clock, stepMs: 10, timeoutMs: 5 * INTERVAL };
    await waitFor(() => buried.size === positions.length, { ...steps, what: "a's positions buried on c" });
    expect([...buried].sort()).toEqual(text(positions));

    // a restarts under its name; c misses its JOIN for one position, as with a dropped frame.
    bus.setFault((d) => {
      if (d.to !== 'c' || d.subject !== c.clique) return 'deliver';
      const frame = decodeFrame(d.data);
      return frame.type === FrameType.Join && frame.sender.equals(positions[0]) ? 'drop' : 'deliver';
    });
    const again = await start('a#2', 'a');
    bus.setFault(undefined);
    const truth = text([again, b, c].flatMap((broker) => broker.snapshot().positions));
    expect(text(b.snapshot().members)).toEqual(truth);

    // a's own PINGs (its announcement lists every position) and b's INFO bring it back within a few rounds,
    // not when its tombstone runs out (minutes).
    await waitFor(() => text(c.snapshot().members).join() === truth.join(), steps).catch(noop);
    expect(text(c.snapshot().members)).toEqual(truth);

    for (const broker of [again, b, c]) await broker.close();
  });
});
