import { DynamicModule, Module } from '@nestjs/common';
import { FlowModule, FlowModuleOptions } from 'nestjs-flow';
import { LedgerController } from './ledger.controller';
import { LedgerStore } from './ledger.store';
import { BALANCE_SNAPSHOTS, BalanceSnapshots } from './snapshots/balance-snapshots';
import { MemoryBalanceSnapshots } from './snapshots/memory-balance-snapshots';

/**
 * One ledger node: Flow with the given options, the ledger's handlers,
 * this node's balances and where balances go when ownership moves. Serve it with FlowServer as the microservice
 * strategy (see main.ts); every app built from it is an independent node.
 */
@Module({})
export class LedgerModule {
  /**
   * `flow` is passed to `FlowModule.forRoot` as is: the transport (`servers`
   * for NATS, or `embedded: { bus }` to share one in-memory bus between the
   * nodes of one process), `clique`, `nodeName`, `onError`, ...
   * `snapshots` is shared by every node of the clique (a NATS KV bucket:
   * KvBalanceSnapshots); by default one MemoryBalanceSnapshots, shared by
   * the apps built from this module (the nodes of one process).
   */
  static forNode(options: { readonly flow: FlowModuleOptions; readonly snapshots?: BalanceSnapshots }): DynamicModule {
    return {
      module: LedgerModule,
      imports: [FlowModule.forRoot(options.flow)],
      controllers: [LedgerController],
      providers: [LedgerStore, { provide: BALANCE_SNAPSHOTS, useValue: options.snapshots ?? new MemoryBalanceSnapshots() }],
      exports: [LedgerStore],
    };
  }
}
