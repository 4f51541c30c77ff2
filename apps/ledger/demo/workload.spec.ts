import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { BalanceReply } from '../src/dto/balance-reply';
import { LedgerCommandDto } from '../src/dto/ledger-command.dto';
import { LedgerStream } from '../src/ledger.streams';
import { compareBalances, planWorkload } from './workload';

/** The fields that break LedgerCommandDto under the ValidationPipe settings of LedgerController. */
function invalidFields(payload: Record<string, unknown>): string[] {
  const command = plainToInstance(LedgerCommandDto, payload);
  return validateSync(command, { whitelist: true, forbidNonWhitelisted: true }).map((error) => error.property);
}

/** A plan as one string, for cheap whole-plan comparisons. */
function fingerprint(plan: ReturnType<typeof planWorkload>): string {
  return JSON.stringify([plan.commands, [...plan.expected], plan.valid, plan.invalid]);
}

function reply(accountId: string, balance: number, applied: number): BalanceReply {
  return { accountId, balance, applied, node: '0000000000000001' };
}

describe('planWorkload', () => {
  const plan = planWorkload({ seed: 42, accounts: 30, commands: 3000, invalidRate: 0.05 });

  it('plans the same commands for the same seed, and others for another seed', () => {
    expect(fingerprint(planWorkload({ seed: 42, accounts: 30, commands: 3000, invalidRate: 0.05 }))).toBe(fingerprint(plan));
    expect(fingerprint(planWorkload({ seed: 43, accounts: 30, commands: 3000, invalidRate: 0.05 }))).not.toBe(fingerprint(plan));
  });

  it('mixes deposits and withdrawals over every account, each keyed by its account and uniquely referenced', () => {
    const valid = plan.commands.filter((command) => command.valid);
    const streams = new Set(valid.map((command) => command.stream));

    expect(streams).toEqual(new Set([LedgerStream.Deposit, LedgerStream.Withdraw]));
    expect(new Set(valid.map((command) => command.key))).toEqual(new Set(plan.accounts));
    expect(valid.every((command) => command.key === command.payload['accountId'])).toBe(true);
    expect(new Set(valid.map((command) => command.payload['reference'])).size).toBe(valid.length);
    const amounts = (stream: string) => valid.filter((command) => command.stream === stream).map((c) => c.payload['amount'] as number);
    expect(Math.min(...amounts(LedgerStream.Deposit), ...amounts(LedgerStream.Withdraw))).toBeGreaterThanOrEqual(1);
    expect(Math.max(...amounts(LedgerStream.Deposit))).toBeLessThanOrEqual(10_000);
    expect(Math.max(...amounts(LedgerStream.Withdraw))).toBeLessThanOrEqual(8_000);
    expect(Math.max(...amounts(LedgerStream.Deposit))).toBeGreaterThan(8_000);
    expect([...amounts(LedgerStream.Deposit), ...amounts(LedgerStream.Withdraw)].every(Number.isInteger)).toBe(true);
  });

  it('makes every valid command pass the DTO validation and every invalid one break it in one field', () => {
    const invalid = plan.commands.filter((command) => !command.valid);
    const wrong = plan.commands.filter((command) => invalidFields(command.payload).length !== (command.valid ? 0 : 1));

    expect(wrong).toEqual([]);
    expect(plan.invalid).toBe(invalid.length);
    expect(plan.valid + plan.invalid).toBe(3000);
    expect(invalid.length).toBeGreaterThan(3000 * 0.03);
    expect(invalid.length).toBeLessThan(3000 * 0.07);
    expect(new Set(invalid.flatMap((command) => invalidFields(command.payload)))).toEqual(
      new Set(['accountId', 'amount', 'reference', 'memo']),
    );
  });

  it('expects each balance to be the deposits minus the withdrawals of the valid commands', () => {
    for (const accountId of plan.accounts) {
      const commands = plan.commands.filter((command) => command.valid && command.key === accountId);
      const balance = commands.reduce(
        (sum, command) => sum + (command.stream === LedgerStream.Deposit ? 1 : -1) * (command.payload['amount'] as number),
        0,
      );
      expect(plan.expected.get(accountId)).toEqual({ balance, applied: commands.length });
    }
  });

  it('numbers the accounts from firstAccount and prefixes the references with runId', () => {
    const other = planWorkload({ seed: 1, accounts: 3, commands: 10, invalidRate: 0, firstAccount: 5000, runId: 'run7' });

    expect(other.accounts).toEqual(['acc-5000', 'acc-5001', 'acc-5002']);
    expect(other.commands[3].payload['reference']).toBe('run7-3');
  });
});

describe('compareBalances', () => {
  const plan = planWorkload({ seed: 5, accounts: 3, commands: 40, invalidRate: 0 });
  const exact = plan.accounts.map((id) => reply(id, plan.expected.get(id)!.balance, plan.expected.get(id)!.applied));

  it('finds nothing when every reply has the expected balance and applied count', () => {
    expect(compareBalances(plan, exact)).toEqual([]);
  });

  it('reports a wrong balance, a wrong applied count and a missing reply', () => {
    const [first, second, third] = plan.accounts;
    const replies = [
      { ...exact[0], balance: exact[0].balance + 1 },
      { ...exact[1], applied: exact[1].applied - 1 },
    ];

    expect(compareBalances(plan, replies).map((mismatch) => [mismatch.accountId, mismatch.actual])).toEqual([
      [first, replies[0]],
      [second, replies[1]],
      [third, undefined],
    ]);
  });
});

describe('planWorkload options', () => {
  it.each([
    [{ accounts: 0 }, 'invalid option accounts: must be a positive integer, received 0'],
    [{ commands: -1 }, 'invalid option commands: must be a non-negative integer, received -1'],
    [{ invalidRate: 2 }, 'invalid option invalidRate: must be from 0 to 1, received 2'],
  ])('refuses %j with a message naming the option', (options, message) => {
    expect(() => planWorkload({ seed: 1, accounts: 2, commands: 2, ...options })).toThrow(message);
  });
});
