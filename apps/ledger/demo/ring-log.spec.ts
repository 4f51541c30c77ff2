import { INestMicroservice } from '@nestjs/common';
import { FlowServer, MemoryBus } from 'nestjs-flow';
import { startLedgerNode } from './ledger-apps';
import { logRingChanges } from './ring-log';
import { MemoryBalanceSnapshots } from '../src/snapshots/memory-balance-snapshots';

/** A logger whose lines can be awaited. */
class Lines {
  readonly seen: string[] = [];
  #waiter: { count: number; resolve: () => void } | undefined;

  log(message: unknown): void {
    this.seen.push(String(message));
    if (this.#waiter !== undefined && this.seen.length >= this.#waiter.count) this.#waiter.resolve();
  }

  until(count: number): Promise<string[]> {
    if (this.seen.length >= count) return Promise.resolve(this.seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.seen.length} of ${count} lines after 5000 ms`)), 5_000);
      this.#waiter = {
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve(this.seen);
        },
      };
    });
  }
}

describe('logRingChanges', () => {
  it('logs one line per node that joins or leaves, with the ring size', async () => {
    const bus = new MemoryBus();
    const lines = new Lines();
    const flow = { embedded: { bus }, virtualNodes: 8, stabilization: { interval: 0 } };
    const snapshots = new MemoryBalanceSnapshots();
    const nodes: INestMicroservice[] = [];
    let stop = (): void => undefined;
    try {
      const watch = (app: INestMicroservice): void => {
        stop = logRingChanges(app.get(FlowServer), lines);
      };
      nodes.push(await startLedgerNode({ ...flow, nodeName: 'ledger-1' }, false, snapshots, watch));
      nodes.push(await startLedgerNode({ ...flow, nodeName: 'ledger-2' }, false, snapshots));
      expect(await lines.until(1)).toEqual(['ring changed (8 positions joined): 16 positions, 2 nodes x 8']);

      await nodes.pop()!.close();
      expect((await lines.until(2))[1]).toBe('ring changed (8 positions left): 8 positions, 1 node x 8');
    } finally {
      stop();
      await Promise.all(nodes.map((node) => node.close()));
    }
  });
});
