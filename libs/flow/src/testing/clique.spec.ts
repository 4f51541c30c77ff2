import { InvalidOptionError } from '../core/errors';
import { keyFromString } from '../core/key';
import { createMemoryClique, MemoryClique } from './clique';

describe('createMemoryClique', () => {
  let clique: MemoryClique | undefined;
  afterEach(async () => {
    await clique?.close();
    clique = undefined;
  });

  it('names brokers node-1..N, starts them and converges their rings', async () => {
    clique = await createMemoryClique({
      size: 3,
      options: { virtualNodes: 2, stabilization: { interval: 0 } },
      setup: (broker) => broker.handle('orders', () => undefined),
    });
    await clique.converged();
    expect(clique.brokers.map((b) => b.nodeKey)).toEqual(['node-1', 'node-2', 'node-3'].map((name) => keyFromString(name)));
    expect(clique.expectedMembers()).toHaveLength(6);
    expect(clique.isConverged()).toBe(true);
  });

  it('keeps an explicit node key or name instead of numbering', async () => {
    clique = await createMemoryClique({ size: 1, options: { nodeKey: '00000000000000ff' }, start: false });
    expect(String(clique.brokers[0].nodeKey)).toBe('00000000000000ff');
  });

  it('counts a crashed or departed broker out of the expected ring', async () => {
    clique = await createMemoryClique({
      size: 3,
      options: { virtualNodes: 2, stabilization: { interval: 0 } },
      setup: (broker) => broker.handle('orders', () => undefined),
    });
    await clique.converged();
    await clique.leave(0);
    clique.crash(1);
    expect(clique.live()).toEqual([clique.brokers[2]]);
    expect(clique.expectedMembers()).toEqual([...clique.brokers[2].snapshot().positions].sort((a, b) => a.compare(b)));
  });

  it('rejects a size out of range and a start order that is not a permutation', async () => {
    await expect(createMemoryClique({ size: 0 })).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(createMemoryClique({ size: 2, startOrder: [0, 0] })).rejects.toMatchObject({ option: 'startOrder' });
  });
});
