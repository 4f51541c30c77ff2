import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrokerProcess } from './broker-process';
import type { WorkerConfig } from './worker-protocol';

/** A worker configuration without its journal: the fleet assigns one per process. */
export type LaunchConfig = Omit<WorkerConfig, 'journal'>;

/**
 * The broker processes of one spec file. It knows every child it spawned, so
 * `stop()` (in afterAll) kills whatever is still running, whether the test
 * passed or failed, and removes the journals.
 */
export class BrokerFleet {
  private readonly dir = mkdtempSync(join(tmpdir(), 'flow-e2e-brokers-'));
  private readonly spawned: BrokerProcess[] = [];
  private journals = 0;

  /** A worker that has not started yet (to test start failures). */
  async spawn(label: string): Promise<BrokerProcess> {
    const worker = await BrokerProcess.spawn(label);
    this.spawned.push(worker);
    return worker;
  }

  /** A worker with its broker started; rejects (and kills it) when start fails. */
  async launch(label: string, config: LaunchConfig): Promise<BrokerProcess> {
    const worker = await this.spawn(label);
    try {
      await worker.start({ ...config, journal: this.journalFor(label) });
    } catch (error) {
      await worker.kill();
      throw error;
    }
    return worker;
  }

  /** Starts a new process with the configuration (node key included) of `worker`, which must be dead. */
  relaunch(worker: BrokerProcess, label = `${worker.label}'`): Promise<BrokerProcess> {
    if (worker.alive) throw new Error(`${worker.label} is still running`);
    if (worker.config === undefined) throw new Error(`${worker.label} never started`);
    const { journal: _journal, ...config } = worker.config;
    return this.launch(label, config);
  }

  journalFor(label: string): string {
    return join(this.dir, `${++this.journals}-${label.replace(/[^\w.-]/g, '_')}.journal`);
  }

  /** Kills every child still running and deletes the journals. */
  async stop(): Promise<void> {
    await Promise.all(this.spawned.map((worker) => worker.kill().catch(() => undefined)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
