import type { KeyRange } from 'nestjs-flow';
import { addSnapshots, BalanceSnapshot, BalanceSnapshots, inRanges } from './balance-snapshots';

/** BalanceSnapshots in memory, shared by the ledger nodes of one process (the embedded demo, tests). */
export class MemoryBalanceSnapshots implements BalanceSnapshots {
  readonly #stored = new Map<string, BalanceSnapshot>();
  readonly #listeners = new Set<(saved: { accountId: string; partition: string }) => void>();

  save(snapshots: readonly BalanceSnapshot[]): Promise<void> {
    for (const snapshot of snapshots) {
      const stored = this.#stored.get(snapshot.accountId);
      this.#stored.set(snapshot.accountId, stored === undefined ? snapshot : addSnapshots(stored, snapshot));
    }
    for (const { accountId, partition } of snapshots) {
      for (const listener of this.#listeners) listener({ accountId, partition });
    }
    return Promise.resolve();
  }

  take(ranges: readonly KeyRange[]): Promise<BalanceSnapshot[]> {
    const taken = [...this.#stored.values()].filter((snapshot) => inRanges(snapshot.partition, ranges));
    for (const snapshot of taken) this.#stored.delete(snapshot.accountId);
    return Promise.resolve(taken);
  }

  watch(listener: (saved: { accountId: string; partition: string }) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The accounts waiting for their owner. */
  get size(): number {
    return this.#stored.size;
  }
}
