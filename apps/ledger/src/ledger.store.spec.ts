import { LedgerCommand, LedgerStore, REMEMBERED_REFERENCES } from './ledger.store';
import type { LedgerCommandKind } from './ledger.streams';

type Step = [LedgerCommandKind, LedgerCommand];

function applyAll(store: LedgerStore, steps: readonly Step[]): void {
  for (const [kind, command] of steps) store.apply(kind, command);
}

describe('LedgerStore', () => {
  it('adds deposits to and subtracts withdrawals from the balance of their account only', () => {
    const store = new LedgerStore();
    applyAll(store, [
      ['deposit', { accountId: 'acc-1', amount: 500 }],
      ['withdraw', { accountId: 'acc-1', amount: 120 }],
      ['deposit', { accountId: 'acc-2', amount: 7 }],
    ]);

    expect(store.balanceOf('acc-1')).toEqual({ balance: 380, applied: 2 });
    expect(store.balanceOf('acc-2')).toEqual({ balance: 7, applied: 1 });
    expect(store.stats).toEqual({ accounts: 2, applied: 3, deposits: 2, withdrawals: 1, overdrafts: 0, duplicates: 0 });
  });

  it('lets a withdrawal overdraw the account and counts each withdrawal that leaves it below zero', () => {
    const store = new LedgerStore();
    applyAll(store, [
      ['withdraw', { accountId: 'acc-1', amount: 50 }],
      ['withdraw', { accountId: 'acc-1', amount: 10 }],
      ['deposit', { accountId: 'acc-1', amount: 100 }],
      ['withdraw', { accountId: 'acc-1', amount: 40 }],
    ]);

    expect(store.balanceOf('acc-1')).toEqual({ balance: 0, applied: 4 });
    expect(store.stats.overdrafts).toBe(2);
  });

  it('ends with the same balances whatever order the commands arrive in', () => {
    const steps: Step[] = [
      ['deposit', { accountId: 'acc-1', amount: 30 }],
      ['withdraw', { accountId: 'acc-1', amount: 45 }],
      ['deposit', { accountId: 'acc-1', amount: 20 }],
      ['withdraw', { accountId: 'acc-2', amount: 5 }],
    ];
    const orders = [steps, [...steps].reverse(), [steps[1], steps[3], steps[0], steps[2]]];
    const results = orders.map((order) => {
      const store = new LedgerStore();
      applyAll(store, order);
      return [store.balanceOf('acc-1'), store.balanceOf('acc-2')];
    });

    expect(results[0]).toEqual([{ balance: 5, applied: 3 }, { balance: -5, applied: 1 }]);
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
  });

  it('applies a command with a reference once and counts the repeats as duplicates', () => {
    const store = new LedgerStore();
    const command = { accountId: 'acc-1', amount: 25, reference: 'r-1' };

    expect(store.apply('deposit', command)).toBe('applied');
    expect(store.apply('deposit', command)).toBe('duplicate');
    expect(store.apply('withdraw', command)).toBe('duplicate');
    expect(store.apply('deposit', { ...command, accountId: 'acc-2' })).toBe('applied');

    expect(store.balanceOf('acc-1')).toEqual({ balance: 25, applied: 1 });
    expect(store.stats).toMatchObject({ applied: 2, duplicates: 2 });
  });

  it(`remembers only the latest ${REMEMBERED_REFERENCES} references of an account`, () => {
    const store = new LedgerStore();
    for (let i = 0; i <= REMEMBERED_REFERENCES; i++) store.apply('deposit', { accountId: 'acc-1', amount: 1, reference: `r-${i}` });

    expect(store.apply('deposit', { accountId: 'acc-1', amount: 1, reference: `r-${REMEMBERED_REFERENCES}` })).toBe('duplicate');
    expect(store.apply('deposit', { accountId: 'acc-1', amount: 1, reference: 'r-0' })).toBe('applied');
  });

  it('answers balance 0 with nothing applied for an account it has not seen, without starting to hold it', () => {
    const store = new LedgerStore();
    store.apply('deposit', { accountId: 'acc-9', amount: 1 });

    expect(store.balanceOf('acc-404')).toEqual({ balance: 0, applied: 0 });
    expect(store.accountIds()).toEqual(['acc-9']);
  });

  it('tells its listeners about every command until they unsubscribe', () => {
    const store = new LedgerStore();
    let calls = 0;
    const off = store.onChange(() => calls++);
    store.apply('deposit', { accountId: 'acc-1', amount: 1, reference: 'a' });
    store.apply('deposit', { accountId: 'acc-1', amount: 1, reference: 'a' });
    off();
    store.apply('deposit', { accountId: 'acc-1', amount: 1 });

    expect(calls).toBe(2);
  });
});
