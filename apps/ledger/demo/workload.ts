import { FlowClient, InvalidOptionError } from 'nestjs-flow';
import { seededRandom } from 'nestjs-flow/testing';
import { BalanceReply } from '../src/dto/balance-reply';
import { MAX_AMOUNT } from '../src/dto/ledger-command.dto';
import { LedgerStream } from '../src/ledger.streams';

export interface WorkloadOptions {
  /** Seed of the random source (`seededRandom`): the same options give the same commands. */
  readonly seed: number;
  readonly accounts: number;
  readonly commands: number;
  /** Share of commands that are invalid, 0..1. Default 0.01. */
  readonly invalidRate?: number;
  /** Number of the first account (`acc-<n>`); a driver picks a fresh range per run. Default 1. */
  readonly firstAccount?: number;
  /** Prefix of the commands' references (idempotency keys). Default `w<seed>`. */
  readonly runId?: string;
}

export type CommandStream = typeof LedgerStream.Deposit | typeof LedgerStream.Withdraw;

export interface PlannedCommand {
  readonly stream: CommandStream;
  /** Partition key: the account id (for invalid commands, whatever they claim). */
  readonly key: string;
  readonly payload: Record<string, unknown>;
  /** False for commands the ledger must reject; the expected balances leave them out. */
  readonly valid: boolean;
}

export interface ExpectedAccount {
  readonly balance: number;
  /** Valid commands for the account. */
  readonly applied: number;
}

export interface WorkloadPlan {
  readonly commands: readonly PlannedCommand[];
  /** Every account the plan uses, valid ids only. */
  readonly accounts: readonly string[];
  readonly expected: ReadonlyMap<string, ExpectedAccount>;
  readonly valid: number;
  readonly invalid: number;
}

/** How one invalid command is spoiled: each breaks exactly one rule of LedgerCommandDto. */
const SPOILERS: readonly ((payload: Record<string, unknown>) => Record<string, unknown>)[] = [
  (payload) => ({ ...payload, amount: 0 }),
  (payload) => ({ ...payload, amount: -(payload['amount'] as number) }),
  (payload) => ({ ...payload, amount: (payload['amount'] as number) + 0.5 }),
  (payload) => ({ ...payload, amount: String(payload['amount']) }),
  (payload) => ({ ...payload, amount: MAX_AMOUNT + 1 }),
  (payload) => ({ ...payload, accountId: (payload['accountId'] as string).toUpperCase() }),
  ({ accountId: _dropped, ...payload }) => payload,
  (payload) => ({ ...payload, reference: '' }),
  (payload) => ({ ...payload, memo: 'not a field of the command' }),
];

/**
 * A deterministic mix of deposits (55 %) and withdrawals over `accounts`
 * accounts, a share of them invalid, with the balances the ledger must end
 * with. Withdrawals are drawn a little smaller than deposits, so most
 * balances stay positive and some accounts overdraw on the way.
 */
export function planWorkload(options: WorkloadOptions): WorkloadPlan {
  const { seed, accounts: accountCount, commands: commandCount } = options;
  const invalidRate = options.invalidRate ?? 0.01;
  if (!Number.isInteger(accountCount) || accountCount < 1) {
    throw new InvalidOptionError('accounts', 'must be a positive integer', accountCount);
  }
  if (!Number.isInteger(commandCount) || commandCount < 0) {
    throw new InvalidOptionError('commands', 'must be a non-negative integer', commandCount);
  }
  if (!(invalidRate >= 0 && invalidRate <= 1)) {
    throw new InvalidOptionError('invalidRate', 'must be from 0 to 1', invalidRate);
  }
  const first = options.firstAccount ?? 1;
  const runId = options.runId ?? `w${seed}`;
  const random = seededRandom(seed);
  const between = (min: number, max: number): number => min + random.int(max - min + 1);
  const accounts = Array.from({ length: accountCount }, (_, i) => `acc-${first + i}`);
  const expected = new Map<string, { balance: number; applied: number }>(
    accounts.map((id) => [id, { balance: 0, applied: 0 }]),
  );
  const commands: PlannedCommand[] = [];
  let invalid = 0;
  for (let i = 0; i < commandCount; i++) {
    const accountId = accounts[random.int(accounts.length)];
    const deposit = random.next() < 0.55;
    const amount = deposit ? between(1, 10_000) : between(1, 8_000);
    const payload = { accountId, amount, reference: `${runId}-${i}` };
    const stream = deposit ? LedgerStream.Deposit : LedgerStream.Withdraw;
    if (random.next() < invalidRate) {
      const spoiled = SPOILERS[random.int(SPOILERS.length)](payload);
      const claimed = typeof spoiled['accountId'] === 'string' ? spoiled['accountId'] : accountId;
      commands.push({ stream, key: claimed, payload: spoiled, valid: false });
      invalid++;
      continue;
    }
    const account = expected.get(accountId)!;
    account.balance += deposit ? amount : -amount;
    account.applied++;
    commands.push({ stream, key: accountId, payload, valid: true });
  }
  return { commands, accounts, expected, valid: commandCount - invalid, invalid };
}

export interface PublishOptions {
  /** Commands published between two calls of `pace`. Default 500. */
  readonly batch?: number;
  /**
   * Awaited after each batch, so the publisher does not run ahead of the
   * clique without bound (Flow's publish does not wait for delivery).
   */
  readonly pace?: () => Promise<unknown>;
}

/** Publishes every command of the plan, in plan order, each keyed by its account. */
export async function publishWorkload(client: FlowClient, plan: WorkloadPlan, options: PublishOptions = {}): Promise<void> {
  const batch = options.batch ?? 500;
  for (let start = 0; start < plan.commands.length; start += batch) {
    for (const command of plan.commands.slice(start, start + batch)) {
      await client.publish(command.stream, command.payload, { key: command.key });
    }
    await options.pace?.();
  }
}

export interface QueryOptions {
  /** Requests in flight at once. Default 64. */
  readonly concurrency?: number;
  /** Per request, ms; default the client's requestTimeout. */
  readonly timeout?: number;
}

/** Asks the owner of each account for its balance; the replies come back in the order of `accounts`. */
export async function queryBalances(
  client: FlowClient,
  accounts: readonly string[],
  options: QueryOptions = {},
): Promise<BalanceReply[]> {
  const replies = new Array<BalanceReply>(accounts.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < accounts.length) {
      const index = next++;
      const accountId = accounts[index];
      replies[index] = await client.request<BalanceReply>(
        LedgerStream.Balance,
        { accountId },
        { key: accountId, timeout: options.timeout },
      );
    }
  };
  const workers = Math.min(options.concurrency ?? 64, accounts.length);
  await Promise.all(Array.from({ length: workers }, worker));
  return replies;
}

export interface BalanceMismatch {
  readonly accountId: string;
  readonly expected: ExpectedAccount;
  /** Undefined when no reply was given for the account. */
  readonly actual: BalanceReply | undefined;
}

/** Accounts of the plan whose reply differs from the expected balance or applied count. */
export function compareBalances(plan: WorkloadPlan, replies: readonly BalanceReply[]): BalanceMismatch[] {
  const byAccount = new Map(replies.map((reply) => [reply.accountId, reply]));
  const mismatches: BalanceMismatch[] = [];
  for (const [accountId, expected] of plan.expected) {
    const actual = byAccount.get(accountId);
    if (actual?.balance !== expected.balance || actual.applied !== expected.applied) {
      mismatches.push({ accountId, expected, actual });
    }
  }
  return mismatches;
}
