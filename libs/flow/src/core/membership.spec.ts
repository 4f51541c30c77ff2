import { createMemoryClique, MemoryClique, waitFor } from '../testing';
import { FlowError } from './errors';
import { encodeFrame, FrameType } from './frame';
import { Key } from './key';
import { MAX_REMOTE_MEMBERS } from './membership';

describe('membership bounds', () => {
  let clique: MemoryClique | undefined;
  afterEach(async () => {
    await clique?.close();
    clique = undefined;
  });

  it('keeps at most MAX_REMOTE_MEMBERS positions when an INFO lists more, and reports it', async () => {
    const errors: FlowError[] = [];
    clique = await createMemoryClique({
      size: 1,
      options: { virtualNodes: 1, stabilization: { interval: 0 }, onError: (error) => errors.push(error) },
      setup: (broker) => broker.handle('orders', () => undefined),
    });
    const [broker] = clique.brokers;
    const neighbours = Array.from({ length: MAX_REMOTE_MEMBERS + 10 }, (_, i) => new Key(0x10000000 + i, i));
    const attacker = clique.bus.connect('attacker');
    attacker.publish(`_global.${broker.nodeKey}`, encodeFrame({ type: FrameType.Info, id: 0, neighbours }));
    await waitFor(() => errors.length > 0, { bus: clique.bus, timeoutMs: 20_000 });

    expect(broker.snapshot().members).toHaveLength(MAX_REMOTE_MEMBERS + 1);
    expect(errors[0]).toMatchObject({ code: 'FLOW_OVERLOADED' });
    expect(errors[0].message).toContain(`listed ${MAX_REMOTE_MEMBERS + 10}`);
  });
});
