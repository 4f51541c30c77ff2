import { DynamicModule, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { FlowError, FlowModuleOptions } from 'nestjs-flow';
import { LedgerModule } from '../src/ledger.module';
import { LedgerStore } from '../src/ledger.store';
import type { BalanceSnapshots } from '../src/snapshots/balance-snapshots';
import { FlowErrorTally } from './flow-error-tally';

/**
 * A ledger node as the demo runs it: LedgerModule, plus the demo's
 * bookkeeping — a FlowErrorTally that receives the node's `onError` (then
 * the `onError` given, if any), and a log line after a shutdown signal.
 */
@Module({})
export class DemoNodeModule implements OnApplicationShutdown {
  constructor(
    private readonly store: LedgerStore,
    private readonly errors: FlowErrorTally,
  ) {}

  /** `snapshots`: where balances go when ownership moves, shared by the clique (LedgerModule's default: one per module). */
  static forNode(flow: FlowModuleOptions, snapshots?: BalanceSnapshots): DynamicModule {
    const { onError, ...rest } = flow;
    const tally = new FlowErrorTally(flow.nodeName ?? 'node');
    const report = (error: FlowError): void => {
      tally.record(error);
      onError?.(error);
    };
    return {
      module: DemoNodeModule,
      imports: [LedgerModule.forNode({ flow: { ...rest, onError: report }, snapshots })],
      providers: [{ provide: FlowErrorTally, useValue: tally }],
      exports: [FlowErrorTally],
    };
  }

  /** After a signal (enableShutdownHooks), says what the node did before it left the ring. */
  onApplicationShutdown(signal?: string): void {
    if (signal === undefined) return;
    const { applied, overdrafts, duplicates, handedOver } = this.store.stats;
    new Logger(`Ledger ${this.errors.node}`).log(
      `${signal}: left the ring; applied ${applied} commands ` +
        `(${overdrafts} overdrafts, ${duplicates} duplicates, ${this.errors.rejected} rejected); handed over ${handedOver} balances`,
    );
  }
}
