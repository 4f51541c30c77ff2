import { DynamicModule, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { FlowError, FlowModule, FlowModuleOptions } from 'nestjs-flow';
import { FlowErrorTally } from './flow-error-tally';
import { LedgerController } from './ledger.controller';
import { LedgerStore } from './ledger.store';

export interface LedgerNodeOptions {
  /**
   * Flow options of this node: the transport (`servers`, or `embedded.bus` to
   * share one in-memory bus between nodes of one process), `nodeName`, ...
   * `onError`, if given, is called after the node's FlowErrorTally recorded the error.
   */
  readonly flow: FlowModuleOptions;
}

/**
 * One ledger node: FlowModule with the given options, the ledger's handlers,
 * and this node's LedgerStore and FlowErrorTally. Serve it with FlowServer as
 * the microservice strategy; every app built from it is an independent node.
 */
@Module({})
export class LedgerModule implements OnApplicationShutdown {
  constructor(
    private readonly store: LedgerStore,
    private readonly errors: FlowErrorTally,
  ) {}

  static forNode(options: LedgerNodeOptions): DynamicModule {
    const { onError, ...flow } = options.flow;
    // One tally per node: it is created here, not in a provider, because FlowModule's onError needs it first.
    const tally = new FlowErrorTally(flow.nodeName ?? 'node');
    const report = (error: FlowError): void => {
      tally.record(error);
      onError?.(error);
    };
    return {
      module: LedgerModule,
      imports: [FlowModule.forRoot({ ...flow, onError: report })],
      controllers: [LedgerController],
      providers: [LedgerStore, { provide: FlowErrorTally, useValue: tally }],
      exports: [LedgerStore, FlowErrorTally],
    };
  }

  /** After a signal (enableShutdownHooks), says what the node did before it left the ring. */
  onApplicationShutdown(signal?: string): void {
    if (signal === undefined) return;
    const { accounts, applied, overdrafts, duplicates } = this.store.stats;
    new Logger(`Ledger ${this.errors.node}`).log(
      `${signal}: left the ring; applied ${applied} commands on ${accounts} accounts ` +
        `(${overdrafts} overdrafts, ${duplicates} duplicates, ${this.errors.rejected} rejected)`,
    );
  }
}
