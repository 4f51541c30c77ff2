import { FlowClient, FlowError, RemoteError } from 'nestjs-flow';
import { FlowTestingClique, startFlowTestingApps, waitFor } from 'nestjs-flow/testing';
import { BalanceReply } from './dto/balance-reply';
import { LedgerModule } from './ledger.module';
import { LedgerStore } from './ledger.store';
import { LedgerStream } from './ledger.streams';

describe('LedgerController on two nodes', () => {
  const reported: FlowError[] = [];
  let clique: FlowTestingClique;
  let client: FlowClient;

  const stores = () => clique.apps.map(({ app }) => app.get(LedgerStore));
  const applied = () => stores().reduce((sum, store) => sum + store.stats.applied + store.stats.duplicates, 0);
  const rejected = () => reported.filter((error) => error.code === 'HTTP_400').length;

  /** Resolves once the nodes have taken `count` more commands (applied or duplicate) and `rejections` more rejections. */
  function settled(count: number, rejections = 0): Promise<void> {
    const target = applied() + count;
    const rejectedTarget = rejected() + rejections;
    return waitFor(() => applied() >= target && rejected() >= rejectedTarget, {
      bus: clique.bus,
      timeoutMs: 5_000,
      what: `${target} commands and ${rejectedTarget} rejections`,
    });
  }

  function balance(accountId: string, key = accountId): Promise<BalanceReply> {
    return client.request<BalanceReply>(LedgerStream.Balance, { accountId }, { key });
  }

  async function remoteError(promise: Promise<unknown>): Promise<RemoteError> {
    const failure = await promise.then(() => undefined, (error: unknown) => error);
    expect(failure).toBeInstanceOf(RemoteError);
    return failure as RemoteError;
  }

  beforeAll(async () => {
    // Two nodes of the ledger on one in-memory bus; the options given to forNode are replaced by `flow` (plus bus and name).
    clique = await startFlowTestingApps({
      imports: [LedgerModule.forNode({ flow: {} })],
      instances: ['ledger-1', 'ledger-2'],
      flow: { onError: (error) => void reported.push(error) },
    });
    client = clique.apps[0].client;
  });

  afterAll(() => clique.close());

  it('applies the deposits and withdrawals of an account on its owner, which answers its balance', async () => {
    const done = settled(3);
    await client.publish(LedgerStream.Deposit, { accountId: 'acc-1', amount: 500 }, { key: 'acc-1' });
    await client.publish(LedgerStream.Withdraw, { accountId: 'acc-1', amount: 120, reference: 'w-1' }, { key: 'acc-1' });
    await client.publish(LedgerStream.Deposit, { accountId: 'acc-2', amount: 9 }, { key: 'acc-2' });
    await done;

    const reply = await balance('acc-1');
    const owner = clique.ownerOf('acc-1');
    expect(reply).toEqual({ accountId: 'acc-1', balance: 380, applied: 2, node: owner.broker.nodeKey.toString() });
    expect(stores().filter((store) => store.accountIds().includes('acc-1'))).toEqual([owner.app.get(LedgerStore)]);
  });

  it('answers balance 0 for an account without commands', async () => {
    await expect(balance('acc-77')).resolves.toMatchObject({ accountId: 'acc-77', balance: 0, applied: 0 });
  });

  it('rejects an invalid command: reported with HTTP_400 and its validation message, counted, not applied', async () => {
    const failed = () => clique.apps.reduce((sum, { broker }) => sum + broker.counters.failed, 0);
    const failedBefore = failed();
    const done = settled(1, 1);
    await client.publish(LedgerStream.Deposit, { accountId: 'acc-3', amount: -5 }, { key: 'acc-3' });
    await client.publish(LedgerStream.Deposit, { accountId: 'acc-3', amount: 5 }, { key: 'acc-3' });
    await done;

    expect(await balance('acc-3')).toMatchObject({ balance: 5, applied: 1 });
    expect(failed()).toBe(failedBefore + 1);
    expect(reported.at(-1)).toMatchObject({ code: 'HTTP_400' });
    expect(reported.at(-1)!.message).toContain('amount must be a positive number');
  });

  it('refuses fields a command does not have', async () => {
    const done = settled(0, 1);
    await client.publish(LedgerStream.Withdraw, { accountId: 'acc-4', amount: 5, memo: 'x' }, { key: 'acc-4' });
    await done;

    expect(reported.at(-1)!.message).toContain('property memo should not exist');
    expect(await balance('acc-4')).toMatchObject({ balance: 0, applied: 0 });
  });

  it('answers an invalid balance query with an HTTP_400 error reply carrying the validation messages', async () => {
    const error = await remoteError(client.request(LedgerStream.Balance, { accountId: 'ACC-1' }, { key: 'ACC-1' }));

    expect(error.code).toBe('HTTP_400');
    expect(error.message).toBe('accountId must match /^acc-[0-9]+$/ regular expression');
    expect(error.details).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message: ['accountId must match /^acc-[0-9]+$/ regular expression'],
    });
  });

  it('refuses a command or query published under a partition key other than its account', async () => {
    const done = settled(0, 1);
    await client.publish(LedgerStream.Deposit, { accountId: 'acc-5', amount: 5 }, { key: 'acc-6' });
    await done;
    expect(reported.at(-1)!.message).toContain('partition key "acc-6" must equal accountId "acc-5"');

    const error = await remoteError(balance('acc-5', 'acc-6'));
    expect(error).toMatchObject({ code: 'HTTP_400', message: 'partition key "acc-6" must equal accountId "acc-5"' });
  });

  it('applies a command repeated under the same reference once and counts the repeat', async () => {
    const duplicatesBefore = stores().reduce((sum, store) => sum + store.stats.duplicates, 0);
    const done = settled(2);
    for (let i = 0; i < 2; i++) {
      await client.publish(LedgerStream.Deposit, { accountId: 'acc-8', amount: 40, reference: 'once' }, { key: 'acc-8' });
    }
    await done;

    expect(await balance('acc-8')).toMatchObject({ balance: 40, applied: 1 });
    expect(stores().reduce((sum, store) => sum + store.stats.duplicates, 0)).toBe(duplicatesBefore + 1);
  });
});
