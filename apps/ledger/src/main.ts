import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AsyncMicroserviceOptions } from '@nestjs/microservices';
import { FlowServer } from 'nestjs-flow';
import { LedgerModule } from './ledger.module';
import { LEDGER_CLIQUE } from './ledger.streams';
import { KvBalanceSnapshots } from './snapshots/kv-balance-snapshots';
import { MemoryBalanceSnapshots } from './snapshots/memory-balance-snapshots';

/**
 * One ledger node. On NATS when NATS_URL is set (start several, each with its
 * own NODE_NAME, and they share the accounts, handing balances over through
 * the NATS KV bucket `ledger-balances`: the server needs JetStream); otherwise
 * on the embedded in-memory transport, alone. SIGTERM or Ctrl-C: the node
 * leaves the ring, finishes the commands in flight, hands its balances over
 * and exits.
 */
async function bootstrap(): Promise<void> {
  const servers = process.env['NATS_URL'] || undefined;
  // A stable name gives a stable node key: a restarted node takes its accounts back.
  const nodeName = process.env['NODE_NAME'] || undefined;
  const snapshots = servers === undefined ? new MemoryBalanceSnapshots() : await KvBalanceSnapshots.open(servers);
  const app = await NestFactory.createMicroservice<AsyncMicroserviceOptions>(
    LedgerModule.forNode({ flow: { servers, clique: LEDGER_CLIQUE, nodeName }, snapshots }),
    { inject: [FlowServer], useFactory: (strategy: FlowServer) => ({ strategy }) },
  );
  app.enableShutdownHooks();
  await app.listen();
  const { nodeKey } = app.get(FlowServer).unwrap().options;
  new Logger('Ledger').log(`node ${nodeName ?? nodeKey} (key ${nodeKey}) serving on ${servers ?? 'the embedded transport'}`);
}

void bootstrap();
