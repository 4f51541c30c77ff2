import { DynamicModule, Module } from '@nestjs/common';
import { FlowModule, FlowModuleOptions } from 'nestjs-flow';
import { LedgerController } from './ledger.controller';
import { LedgerStore } from './ledger.store';

/**
 * One ledger node: Flow with the given options, the ledger's handlers and
 * this node's balances. Serve it with FlowServer as the microservice
 * strategy (see main.ts); every app built from it is an independent node.
 */
@Module({})
export class LedgerModule {
  /**
   * `flow` is passed to `FlowModule.forRoot` as is: the transport (`servers`
   * for NATS, or `embedded: { bus }` to share one in-memory bus between the
   * nodes of one process), `clique`, `nodeName`, `onError`, ...
   */
  static forNode(options: { readonly flow: FlowModuleOptions }): DynamicModule {
    return {
      module: LedgerModule,
      imports: [FlowModule.forRoot(options.flow)],
      controllers: [LedgerController],
      providers: [LedgerStore],
      exports: [LedgerStore],
    };
  }
}
