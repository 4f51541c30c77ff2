import { INestApplicationContext } from '@nestjs/common';
import { randomBytes, randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { FlowClient, FlowError, RemoteError, TimeoutError } from 'nestjs-flow';
import { BalanceReply } from '../src/dto/balance-reply';
import { LEDGER_CLIQUE, LedgerStream } from '../src/ledger.streams';
import { LedgerAppLogger, startPublisher } from './ledger-apps';
import { textTable } from './text-table';
import { compareBalances, planWorkload, publishWorkload, queryBalances, WorkloadPlan } from './workload';

export interface NatsDriverOptions {
  readonly servers: string;
  readonly accounts?: number;
  readonly commands?: number;
  /** Default: random (printed, so a run can be repeated). */
  readonly seed?: number;
  /** Bound of the wait for the nodes to answer and to apply everything, ms. Default 30,000. */
  readonly timeoutMs?: number;
  readonly print?: (line: string) => void;
  readonly logger: LedgerAppLogger;
}

/** Between two rounds of balance queries while commands are still being applied, ms. */
const POLL_MS = 200;
const REQUEST_TIMEOUT_MS = 5_000;

/**
 * The driver of `npm start -- --drive`: a publisher (it never joins the
 * ring) that sends a seeded workload to the ledger nodes on NATS, then asks
 * every balance by request until each account has applied all its valid
 * commands, and checks the balances. Accounts are numbered from a random
 * base, so runs against long-lived nodes do not see each other's balances.
 * Resolves true when every balance is as expected.
 */
export async function runNatsDriver(options: NatsDriverOptions): Promise<boolean> {
  const print = options.print ?? ((line: string) => console.log(line));
  const timeoutMs = options.timeoutMs ?? 30_000;
  const seed = options.seed ?? randomInt(1, 2 ** 31);
  const runId = randomBytes(4).toString('hex');
  const plan = planWorkload({
    seed,
    accounts: options.accounts ?? 200,
    commands: options.commands ?? 20_000,
    firstAccount: randomInt(1, 1_000_000) * 1_000_000,
    runId,
  });
  let app: INestApplicationContext | undefined;
  try {
    const nodeName = `ledger-driver-${runId}`;
    app = await startPublisher(
      { servers: options.servers, clique: LEDGER_CLIQUE, nodeName, requestTimeout: REQUEST_TIMEOUT_MS },
      options.logger,
    );
    const client = app.get(FlowClient);
    const probe = await firstAnswer(client, plan.accounts[0], timeoutMs);
    print(`ledger nodes answer on ${options.servers}: ${plan.accounts[0]} is owned by node ${probe.node}`);

    const started = Date.now();
    // Each batch waits for one request's round trip, which keeps the publisher roughly in step with the nodes.
    const roundTrip = () => client.request(LedgerStream.Balance, { accountId: probe.accountId }, { key: probe.accountId });
    await publishWorkload(client, plan, { pace: roundTrip });
    print(
      `workload ${runId}: seed ${seed}, accounts ${plan.accounts[0]}..${plan.accounts[plan.accounts.length - 1]}, ` +
        `${plan.commands.length} deposits/withdrawals (${plan.valid} valid, ${plan.invalid} invalid), ` +
        `published in ${Date.now() - started} ms`,
    );

    const replies = await settledBalances(client, plan, Date.now() + timeoutMs);
    print(`settled after ${Date.now() - started} ms`);
    for (const line of ownershipTable(replies)) print(line);
    const mismatches = compareBalances(plan, replies);
    const matching = replies.length - mismatches.length;
    print(`balances: ${replies.length} accounts queried by request, ${matching} equal the expected balance and applied count`);
    for (const mismatch of mismatches.slice(0, 10)) print(`  mismatch ${JSON.stringify(mismatch)}`);

    const invalid = await client
      .request(LedgerStream.Balance, { accountId: 'ACC-1' }, { key: 'ACC-1' })
      .catch((error: unknown) => error);
    const refused = invalid instanceof RemoteError && invalid.code === 'HTTP_400';
    const outcome = invalid instanceof FlowError ? `${invalid.name} ${invalid.code}: ${invalid.message}` : JSON.stringify(invalid);
    print(`invalid query {"accountId":"ACC-1"} -> ${outcome}`);

    const problems = [
      mismatches.length > 0 ? `${mismatches.length} balances differ` : undefined,
      refused ? undefined : 'the invalid query got no HTTP_400 error reply',
    ].filter((problem) => problem !== undefined);
    print(
      problems.length === 0
        ? `self-check passed: all ${plan.accounts.length} balances equal the expected ones`
        : `self-check FAILED: ${problems.join('; ')}`,
    );
    return problems.length === 0;
  } catch (error) {
    print(`driver failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
    return false;
  } finally {
    await app?.close();
  }
}

/** The first balance reply for `accountId`, asking again while no node answers (each request times out after 1 s). */
async function firstAnswer(client: FlowClient, accountId: string, timeoutMs: number): Promise<BalanceReply> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      return await client.request<BalanceReply>(LedgerStream.Balance, { accountId }, { key: accountId, timeout: 1_000 });
    } catch (error) {
      if (!(error instanceof TimeoutError)) throw error;
    }
  }
  throw new TimeoutError(`waiting for a ledger node to answer on "${LedgerStream.Balance}"`, timeoutMs);
}

/**
 * Queries the accounts until each has applied as many commands as the plan
 * has valid ones for it (or more, which the check then reports), or until
 * the deadline; returns the latest reply of every account.
 */
async function settledBalances(client: FlowClient, plan: WorkloadPlan, deadline: number): Promise<BalanceReply[]> {
  const latest = new Map<string, BalanceReply>();
  let pending = plan.accounts;
  while (pending.length > 0) {
    for (const reply of await queryBalances(client, pending)) latest.set(reply.accountId, reply);
    pending = pending.filter((id) => latest.get(id)!.applied < plan.expected.get(id)!.applied);
    if (pending.length === 0 || Date.now() >= deadline) break;
    await sleep(POLL_MS);
  }
  return plan.accounts.map((id) => latest.get(id)!);
}

/** Accounts and applied commands per answering node, from the replies' `node` field. */
function ownershipTable(replies: readonly BalanceReply[]): string[] {
  const nodes = new Map<string, { accounts: number; applied: number }>();
  for (const reply of replies) {
    const entry = nodes.get(reply.node) ?? { accounts: 0, applied: 0 };
    entry.accounts++;
    entry.applied += reply.applied;
    nodes.set(reply.node, entry);
  }
  const rows = [...nodes].sort(([a], [b]) => a.localeCompare(b)).map(([node, { accounts, applied }]) => [node, accounts, applied]);
  return textTable(['owner node key', 'accounts', 'applied'], rows);
}
