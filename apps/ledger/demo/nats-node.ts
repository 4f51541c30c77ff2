import { INestMicroservice, Logger } from '@nestjs/common';
import { FlowServer } from 'nestjs-flow';
import { LedgerStore } from '../src/ledger.store';
import { LEDGER_CLIQUE, LedgerStream } from '../src/ledger.streams';
import { KvBalanceSnapshots, LEDGER_BALANCES_BUCKET } from '../src/snapshots/kv-balance-snapshots';
import { FlowErrorTally } from './flow-error-tally';
import { LedgerAppLogger, startLedgerNode } from './ledger-apps';
import { logRingChanges } from './ring-log';

export interface NatsNodeOptions {
  /** NATS server URL(s), comma-separated. */
  readonly servers: string;
  /** Gives the node key (`keyFromString(nodeName)`): a restarted node reclaims its ring positions. */
  readonly nodeName: string;
  readonly logger: LedgerAppLogger;
}

/** While commands arrive, at most one activity line per this many ms. */
const ACTIVITY_INTERVAL_MS = 1_000;

/**
 * Runs one ledger node against NATS until SIGTERM or SIGINT, which make it
 * leave the ring, finish the commands in flight, drain NATS and exit 0.
 * Logs ring membership changes and, while commands arrive, what it applied.
 */
export async function runNatsNode(options: NatsNodeOptions): Promise<INestMicroservice> {
  const logger = new Logger(`Ledger ${options.nodeName}`);
  // Balances move between nodes through a NATS KV bucket (the server needs JetStream: nats-server -js).
  const snapshots = await KvBalanceSnapshots.open(options.servers);
  let app: INestMicroservice;
  try {
    app = await startLedgerNode(
      { servers: options.servers, clique: LEDGER_CLIQUE, nodeName: options.nodeName, name: options.nodeName },
      options.logger,
      snapshots,
      (created) => logRingChanges(created.get(FlowServer), logger),
    );
  } catch (error) {
    await snapshots.close();
    throw error;
  }
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  logActivity(app.get(LedgerStore), app.get(FlowErrorTally), logger);
  const { nodeKey, virtualNodes } = app.get(FlowServer).unwrap().options;
  logger.log(
    `node key ${nodeKey} holds ${virtualNodes} ring positions in clique "${LEDGER_CLIQUE}" on ${options.servers}; ` +
      `serving ${Object.values(LedgerStream).join(', ')}; balances move through KV bucket "${LEDGER_BALANCES_BUCKET}"; ` +
      'stop with SIGTERM or Ctrl-C',
  );
  return app;
}

/** Logs the node's totals at most once per interval while commands keep arriving. */
function logActivity(store: LedgerStore, errors: FlowErrorTally, logger: Logger): void {
  let timer: NodeJS.Timeout | undefined;
  const report = (): void => {
    timer = undefined;
    const { accounts, applied, overdrafts, duplicates } = store.stats;
    logger.log(
      `applied ${applied} commands on ${accounts} accounts so far ` +
        `(${overdrafts} overdrafts, ${duplicates} duplicates, ${errors.rejected} rejected)`,
    );
  };
  const schedule = (): void => {
    timer ??= setTimeout(report, ACTIVITY_INTERVAL_MS).unref();
  };
  store.onChange(schedule);
  errors.onChange(schedule);
}
