// Nest 12, ESM: a hybrid app (NestFactory.create) with the app's FlowServer
// attached by connectMicroservice, inheriting the app's global filters, on
// the embedded in-memory transport. No HTTP port is opened (init, no listen).
// Runs the consumer checks and exits: 0 when all pass.
import { NestFactory } from '@nestjs/core';
import { FlowClient, FlowServer } from 'nestjs-flow';
import { AppModule } from './app.module.js';
import { consumerChecks } from './checks.js';
import { cliqueCheck } from './clique-check.js';
import { OrderLockedFilter } from './enhancers.js';
import { Probe } from './probe.js';

const APP = 'nest12-esm';
const DEADLINE_MS = 20_000;
const EXIT_GRACE_MS = 3_000;

async function main(): Promise<void> {
  const deadline = setTimeout(() => fail(new Error(`not finished within ${DEADLINE_MS} ms`)), DEADLINE_MS);
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  const probe = app.get(Probe);
  app.useGlobalFilters(new OrderLockedFilter(probe));
  app.connectMicroservice({ strategy: app.get(FlowServer) }, { inheritAppConfig: true });
  await app.startAllMicroservices();
  await app.init();

  for (const check of consumerChecks(app.get(FlowClient), probe)) {
    await check.run().catch((error: unknown) => {
      throw new Error(`${check.name}: ${error instanceof Error ? error.message : String(error)}`);
    });
    console.log(`${APP}: ok  ${check.name}`);
  }

  await app.close();

  await cliqueCheck.run().catch((error: unknown) => {
    throw new Error(`${cliqueCheck.name}: ${error instanceof Error ? error.message : String(error)}`);
  });
  console.log(`${APP}: ok  ${cliqueCheck.name}`);
  clearTimeout(deadline);
  // Nothing may keep the process alive after close(): exit 0 comes from an empty event loop.
  setTimeout(() => fail(new Error(`still running ${EXIT_GRACE_MS} ms after app.close()`)), EXIT_GRACE_MS).unref();
  console.log(`${APP}: all checks passed`);
}

function fail(error: unknown): void {
  console.error(`${APP}: FAILED: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}

main().catch(fail);
