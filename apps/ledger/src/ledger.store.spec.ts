import { keyFromString } from 'nestjs-flow/core';
import { AccountContext, LedgerCommand, LedgerStore, REMEMBERED_REFERENCES } from './ledger.store';
import type { LedgerCommandKind } from './ledger.streams';
import type { BalanceSnapshots } from './snapshots/balance-snapshots';
import { MemoryBalanceSnapshots } from './snapshots/memory-balance-snapshots';

type Step = [LedgerCommandKind, LedgerCommand];

/** A store on its own snapshot store, watching it as Nest's onModuleInit would. */
function newStore(snapshots: BalanceSnapshots = new MemoryBalanceSnapshots()): LedgerStore {
  const store = new LedgerStore(snapshots);
  store.onModuleInit();
  return store;
}

/** The context of a message keyed by `accountId`, handled by a node that owns it (or, `owner` false, no longer does). */
function at(accountId: string, owner = true): AccountContext {
  return { getPartition: () => keyFromString(accountId).toString(), isStillOwner: () => owner };
}

async function applyAll(store: LedgerStore, steps: readonly Step[]): Promise<void> {
  for (const [kind, command] of steps) await store.apply(kind, command, at(command.accountId));
}

describe('LedgerStore', () => {
  it('adds deposits to and subtracts withdrawals from the balance of their account only', async () => {
    const store = newStore();
    await applyAll(store, [
      ['deposit', { accountId: 'acc-1', amount: 500 }],
      ['withdraw', { accountId: 'acc-1', amount: 120 }],
      ['deposit', { accountId: 'acc-2', amount: 7 }],
    ]);

    expect(await store.balanceOf('acc-1', at('acc-1'))).toEqual({ balance: 380, applied: 2 });
    expect(await store.balanceOf('acc-2', at('acc-2'))).toEqual({ balance: 7, applied: 1 });
    expect(store.stats).toEqual({ accounts: 2, applied: 3, deposits: 2, withdrawals: 1, overdrafts: 0, duplicates: 0, handedOver: 0, takenOver: 0 });
  });

  it('lets a withdrawal overdraw the account and counts each withdrawal that leaves it below zero', async () => {
    const store = newStore();
    await applyAll(store, [
      ['withdraw', { accountId: 'acc-1', amount: 50 }],
      ['withdraw', { accountId: 'acc-1', amount: 10 }],
      ['deposit', { accountId: 'acc-1', amount: 100 }],
      ['withdraw', { accountId: 'acc-1', amount: 40 }],
    ]);

    expect(await store.balanceOf('acc-1', at('acc-1'))).toEqual({ balance: 0, applied: 4 });
    expect(store.stats.overdrafts).toBe(2);
  });

  it('ends with the same balances whatever order the commands arrive in', async () => {
    const steps: Step[] = [
      ['deposit', { accountId: 'acc-1', amount: 30 }],
      ['withdraw', { accountId: 'acc-1', amount: 45 }],
      ['deposit', { accountId: 'acc-1', amount: 20 }],
      ['withdraw', { accountId: 'acc-2', amount: 5 }],
    ];
    const orders = [steps, [...steps].reverse(), [steps[1], steps[3], steps[0], steps[2]]];
    const results = await Promise.all(
      orders.map(async (order) => {
        const store = newStore();
        await applyAll(store, order);
        return [await store.balanceOf('acc-1', at('acc-1')), await store.balanceOf('acc-2', at('acc-2'))];
      }),
    );

    expect(results[0]).toEqual([{ balance: 5, applied: 3 }, { balance: -5, applied: 1 }]);
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
  });

  it('applies a command with a reference once and counts the repeats as duplicates', async () => {
    const store = newStore();
    const command = { accountId: 'acc-1', amount: 25, reference: 'r-1' };

    expect(await store.apply('deposit', command, at(command.accountId))).toBe('applied');
    expect(await store.apply('deposit', command, at(command.accountId))).toBe('duplicate');
    expect(await store.apply('withdraw', command, at(command.accountId))).toBe('duplicate');
    expect(await store.apply('deposit', { ...command, accountId: 'acc-2' }, at('acc-2'))).toBe('applied');

    expect(await store.balanceOf('acc-1', at('acc-1'))).toEqual({ balance: 25, applied: 1 });
    expect(store.stats).toMatchObject({ applied: 2, duplicates: 2 });
  });

  it(`remembers only the latest ${REMEMBERED_REFERENCES} references of an account`, async () => {
    const store = newStore();
    for (let i = 0; i <= REMEMBERED_REFERENCES; i++) await store.apply('deposit', { accountId: 'acc-1', amount: 1, reference: `r-${i}` }, at('acc-1'));

    expect(await store.apply('deposit', { accountId: 'acc-1', amount: 1, reference: `r-${REMEMBERED_REFERENCES}` }, at('acc-1'))).toBe('duplicate');
    expect(await store.apply('deposit', { accountId: 'acc-1', amount: 1, reference: 'r-0' }, at('acc-1'))).toBe('applied');
  });

  it('answers balance 0 with nothing applied for an account it has not seen, without starting to hold it', async () => {
    const store = newStore();
    await store.apply('deposit', { accountId: 'acc-9', amount: 1 }, at('acc-9'));

    expect(await store.balanceOf('acc-404', at('acc-404'))).toEqual({ balance: 0, applied: 0 });
    expect(store.accountIds()).toEqual(['acc-9']);
  });

  it('tells its listeners about every command until they unsubscribe', async () => {
    const store = newStore();
    let calls = 0;
    const off = store.onChange(() => calls++);
    await store.apply('deposit', { accountId: 'acc-1', amount: 1, reference: 'a' }, at('acc-1'));
    await store.apply('deposit', { accountId: 'acc-1', amount: 1, reference: 'a' }, at('acc-1'));
    off();
    await store.apply('deposit', { accountId: 'acc-1', amount: 1 }, at('acc-1'));

    expect(calls).toBe(2);
  });

  describe('when ownership moves', () => {
    const WHOLE_RING = [{ from: '0000000000000000', to: 'ffffffffffffffff' }];
    const LOWER_HALF = [{ from: '0000000000000000', to: '7fffffffffffffff' }];
    const accounts = Array.from({ length: 40 }, (_, i) => `acc-${i + 1}`);
    const lower = (id: string) => keyFromString(id).toString() < '8';

    async function depositToEach(store: LedgerStore, ids: readonly string[], amount: number): Promise<void> {
      for (const accountId of ids) await store.apply('deposit', { accountId, amount }, at(accountId));
    }

    it('hands over the accounts of released ranges only, and the node that acquires them takes them', async () => {
      const snapshots = new MemoryBalanceSnapshots();
      const [a, b] = [newStore(snapshots), newStore(snapshots)];
      await depositToEach(a, accounts, 5);
      await depositToEach(a, accounts, 7);
      const moving = accounts.filter(lower);
      expect(moving.length).toBeGreaterThan(0);
      expect(moving.length).toBeLessThan(accounts.length);

      await a.flush({ ranges: LOWER_HALF, epoch: 2 });
      expect(a.accountIds()).toEqual(accounts.filter((id) => !lower(id)));
      expect(snapshots.size).toBe(moving.length);

      await b.load({ ranges: LOWER_HALF, epoch: 1 });
      expect(snapshots.size).toBe(0);
      expect(b.accountIds().sort()).toEqual([...moving].sort());
      for (const id of moving) expect(await b.balanceOf(id, at(id))).toEqual({ balance: 12, applied: 2 });
      expect([a.stats.handedOver, b.stats.takenOver]).toEqual([moving.length, moving.length]);
    });

    it("adds a balance flushed after the acquisition (a leaving node's last flush) before the account's next query", async () => {
      const snapshots = new MemoryBalanceSnapshots();
      const [old, next] = [newStore(snapshots), newStore(snapshots)];
      await depositToEach(old, accounts, 100);
      await next.load({ ranges: WHOLE_RING, epoch: 1 });
      await depositToEach(next, accounts, 1);

      await old.flush({ ranges: WHOLE_RING, epoch: 3 });

      for (const id of accounts) expect(await next.balanceOf(id, at(id))).toEqual({ balance: 101, applied: 2 });
      expect(snapshots.size).toBe(0);
    });

    it("runs a command only after the acquisition's load has finished", async () => {
      const snapshots = new MemoryBalanceSnapshots();
      const old = newStore(snapshots);
      await old.apply('deposit', { accountId: 'acc-1', amount: 40 }, at('acc-1'));
      await old.flush({ ranges: WHOLE_RING, epoch: 2 });
      let releaseTake!: () => void;
      const held = new Promise<void>((resolve) => (releaseTake = resolve));
      const slow: BalanceSnapshots = {
        save: (saved) => snapshots.save(saved),
        take: (ranges) => held.then(() => snapshots.take(ranges)),
        watch: (listener) => snapshots.watch(listener),
      };
      const next = newStore(slow);

      const loading = next.load({ ranges: WHOLE_RING, epoch: 1 });
      let applied = false;
      const applying = next.apply('withdraw', { accountId: 'acc-1', amount: 15 }, at('acc-1')).then(() => (applied = true));
      for (let tick = 0; tick < 20; tick++) await Promise.resolve();
      expect([applied, next.stats.applied]).toEqual([false, 0]);

      releaseTake();
      await Promise.all([loading, applying]);
      expect(await next.balanceOf('acc-1', at('acc-1'))).toEqual({ balance: 25, applied: 2 });
      expect(next.stats.overdrafts).toBe(0);
    });

    it('hands over a command applied after its account moved on, to be added on the owner', async () => {
      const snapshots = new MemoryBalanceSnapshots();
      const [stale, owner] = [newStore(snapshots), newStore(snapshots)];
      await owner.apply('deposit', { accountId: 'acc-1', amount: 3 }, at('acc-1'));

      await stale.apply('deposit', { accountId: 'acc-1', amount: 50 }, at('acc-1', false));

      expect(stale.accountIds()).toEqual([]);
      expect(await owner.balanceOf('acc-1', at('acc-1'))).toEqual({ balance: 53, applied: 2 });
    });

    it('stops taking saved snapshots once destroyed', async () => {
      const snapshots = new MemoryBalanceSnapshots();
      const [old, next] = [newStore(snapshots), newStore(snapshots)];
      await old.apply('deposit', { accountId: 'acc-1', amount: 9 }, at('acc-1'));
      next.onModuleDestroy();
      await old.flush({ ranges: WHOLE_RING, epoch: 2 });

      expect(await next.balanceOf('acc-1', at('acc-1'))).toEqual({ balance: 0, applied: 0 });
      expect(snapshots.size).toBe(1);
    });
  });
});
