import { Logger, OnApplicationShutdown } from '@nestjs/common';
import { connect, KvWatchInclude, type KV, type NatsConnection } from 'nats';
import type { KeyRange } from 'nestjs-flow';
import { addSnapshots, BalanceSnapshot, BalanceSnapshots, inRanges } from './balance-snapshots';

/** The default bucket. */
export const LEDGER_BALANCES_BUCKET = 'ledger-balances';

/** Compare-and-set attempts per account before `save` or `take` gives up (only concurrent writers retry). */
const ATTEMPTS = 10;

/**
 * BalanceSnapshots in a NATS KV bucket (JetStream), one key per account,
 * `<partition>.<accountId>`, so `take` picks its accounts from the key list.
 * Every write is a compare-and-set on the key's revision (`create`,
 * `update`, `delete` with `previousSeq`): a snapshot added by one node and
 * taken by another at the same moment is counted once. Provided to a node,
 * it closes its connection when the app shuts down, after Flow's last flush.
 */
export class KvBalanceSnapshots implements BalanceSnapshots, OnApplicationShutdown {
  private constructor(
    private readonly nc: NatsConnection,
    private readonly kv: KV,
  ) {}

  /** Connects to `servers` and opens (or creates) the bucket. */
  static async open(servers: string, bucket = LEDGER_BALANCES_BUCKET): Promise<KvBalanceSnapshots> {
    const nc = await connect({ servers: servers.split(',') });
    try {
      return new KvBalanceSnapshots(nc, await nc.jetstream().views.kv(bucket));
    } catch (error) {
      await nc.close();
      throw error;
    }
  }

  async save(snapshots: readonly BalanceSnapshot[]): Promise<void> {
    await Promise.all(snapshots.map((snapshot) => this.#add(snapshot)));
  }

  async take(ranges: readonly KeyRange[]): Promise<BalanceSnapshot[]> {
    const keys: string[] = [];
    for await (const key of await this.kv.keys()) {
      if (inRanges(key.slice(0, key.indexOf('.')), ranges)) keys.push(key);
    }
    const taken = await Promise.all(keys.map((key) => this.#remove(key)));
    return taken.filter((snapshot) => snapshot !== undefined);
  }

  watch(listener: (saved: { accountId: string; partition: string }) => void): () => void {
    const watching = this.kv.watch({ include: KvWatchInclude.UpdatesOnly });
    void watching.then(async (entries) => {
      for await (const entry of entries) {
        if (entry.operation !== 'PUT') continue;
        const dot = entry.key.indexOf('.');
        listener({ partition: entry.key.slice(0, dot), accountId: entry.key.slice(dot + 1) });
      }
    }).catch((error: unknown) => new Logger(KvBalanceSnapshots.name).error(`watching the balance snapshots failed: ${String(error)}`));
    return () => void watching.then((entries) => entries.stop());
  }

  /** Closes the connection (after the node's last flush). */
  close(): Promise<void> {
    return this.nc.close();
  }

  onApplicationShutdown(): Promise<void> {
    return this.close();
  }

  async #add(snapshot: BalanceSnapshot): Promise<void> {
    const key = `${snapshot.partition}.${snapshot.accountId}`;
    for (let attempt = 1; ; attempt++) {
      const entry = await this.kv.get(key);
      try {
        if (entry === null || entry.operation !== 'PUT') {
          await this.kv.create(key, JSON.stringify(snapshot));
        } else {
          await this.kv.update(key, JSON.stringify(addSnapshots(entry.json<BalanceSnapshot>(), snapshot)), entry.revision);
        }
        return;
      } catch (error) {
        if (attempt === ATTEMPTS) throw error;
      }
    }
  }

  async #remove(key: string): Promise<BalanceSnapshot | undefined> {
    for (let attempt = 1; ; attempt++) {
      const entry = await this.kv.get(key);
      if (entry === null || entry.operation !== 'PUT') return undefined;
      try {
        await this.kv.delete(key, { previousSeq: entry.revision });
        return entry.json<BalanceSnapshot>();
      } catch (error) {
        if (attempt === ATTEMPTS) throw error;
      }
    }
  }
}
