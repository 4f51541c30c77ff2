import { INestApplicationContext, INestMicroservice, LoggerService, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AsyncMicroserviceOptions } from '@nestjs/microservices';
import { FlowModule, FlowModuleOptions, FlowServer } from 'nestjs-flow';
import type { BalanceSnapshots } from '../src/snapshots/balance-snapshots';
import { DemoNodeModule } from './demo-node.module';

/** What Nest accepts as `logger`: a service, levels, or false for silence. */
export type LedgerAppLogger = LoggerService | LogLevel[] | false;

/**
 * Boots one ledger node of the demo (DemoNodeModule): a Nest microservice
 * whose transport strategy is the node's own FlowServer (taken from its
 * FlowModule through the async microservice options, as src/main.ts does),
 * listening once this resolves: it has joined the ring.
 * `beforeListen` sees the app first, to attach listeners that must not miss
 * the first membership events. `snapshots` is where balances go when
 * ownership moves: one store shared by every node of the clique.
 */
export async function startLedgerNode(
  flow: FlowModuleOptions,
  logger: LedgerAppLogger,
  snapshots: BalanceSnapshots,
  beforeListen?: (app: INestMicroservice) => void,
): Promise<INestMicroservice> {
  const app = await NestFactory.createMicroservice<AsyncMicroserviceOptions>(DemoNodeModule.forNode(flow, snapshots), {
    inject: [FlowServer],
    useFactory: (strategy: FlowServer) => ({ strategy }),
    logger,
  });
  beforeListen?.(app);
  await app.listen();
  return app;
}

/**
 * Boots a publisher: an application context with FlowModule and no handlers.
 * Its broker never joins the ring; its FlowClient publishes commands and
 * sends queries, and receives the replies on its own node subject.
 */
export async function startPublisher(flow: FlowModuleOptions, logger: LedgerAppLogger): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(FlowModule.forRoot(flow), { logger });
  await app.init();
  return app;
}
