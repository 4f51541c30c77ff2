import { FlowClient } from 'nestjs-flow';
import { FlowTestingApp, FlowTestingClique, startFlowTestingApps, waitFor } from 'nestjs-flow/testing';
import { BalanceReply } from './dto/balance-reply';
import { LedgerModule } from './ledger.module';
import { LedgerStore } from './ledger.store';
import { LedgerStream } from './ledger.streams';
import { BalanceSnapshot, BalanceSnapshots } from './snapshots/balance-snapshots';
import { MemoryBalanceSnapshots } from './snapshots/memory-balance-snapshots';

const ACCOUNTS = Array.from({ length: 60 }, (_, i) => `acc-${i + 1}`);

/** MemoryBalanceSnapshots whose saves can be held back, to land a flush after the next owners acquired. */
class HeldSnapshots implements BalanceSnapshots {
  readonly memory = new MemoryBalanceSnapshots();
  #held: Promise<void> | undefined;
  #release: (() => void) | undefined;

  hold(): void {
    this.#held = new Promise((resolve) => (this.#release = resolve));
  }

  release(): void {
    this.#release?.();
  }

  async save(snapshots: readonly BalanceSnapshot[]): Promise<void> {
    await this.#held;
    await this.memory.save(snapshots);
  }

  take: BalanceSnapshots['take'] = (ranges) => this.memory.take(ranges);
  watch: BalanceSnapshots['watch'] = (listener) => this.memory.watch(listener);
}

/**
 * Balances survive a graceful leave: three ledger nodes on one in-memory bus
 * share the default MemoryBalanceSnapshots; one node's app is closed between
 * (or during) two rounds of deposits, and every balance is the sum of all
 * its deposits.
 */
describe('the ledger across a graceful leave (3 nodes, embedded bus)', () => {
  let clique: FlowTestingClique;
  let client: FlowClient;
  let snapshots: HeldSnapshots;
  const expected = new Map<string, { balance: number; applied: number }>();

  beforeEach(async () => {
    snapshots = new HeldSnapshots();
    clique = await startFlowTestingApps({
      imports: [LedgerModule.forNode({ flow: {}, snapshots })],
      instances: ['ledger-1', 'ledger-2', 'ledger-3'],
    });
    client = clique.apps[0].client;
    expected.clear();
  });

  afterEach(() => clique.close());

  const store = (node: FlowTestingApp) => node.app.get(LedgerStore);

  /** Deposits `round * 10 + i % 7 + 1` to every account, `times` times each, without waiting for them to be handled. */
  async function depositRound(round: number, times: number): Promise<void> {
    for (let time = 0; time < times; time++) {
      for (const [i, accountId] of ACCOUNTS.entries()) {
        const amount = round * 10 + (i % 7) + 1;
        await client.publish(LedgerStream.Deposit, { accountId, amount, reference: `r${round}-${time}-${i}` }, { key: accountId });
        const sum = expected.get(accountId) ?? { balance: 0, applied: 0 };
        expected.set(accountId, { balance: sum.balance + amount, applied: sum.applied + 1 });
      }
    }
  }

  async function ringOf(nodes: readonly FlowTestingApp[]): Promise<void> {
    const positions = nodes.reduce((sum, node) => sum + node.broker.snapshot().positions.length, 0);
    await waitFor(() => nodes.every((node) => node.broker.snapshot().members.length === positions), {
      bus: clique.bus,
      timeoutMs: 5_000,
      what: `a ring of ${positions} positions`,
    });
  }

  async function balances(): Promise<Map<string, { balance: number; applied: number }>> {
    const replies = await Promise.all(
      ACCOUNTS.map((accountId) => client.request<BalanceReply>(LedgerStream.Balance, { accountId }, { key: accountId })),
    );
    return new Map(replies.map(({ accountId, balance, applied }) => [accountId, { balance, applied }]));
  }

  it('keeps every balance when a node leaves between two rounds of deposits', async () => {
    const [first, second, leaving] = clique.apps;
    await depositRound(1, 3);
    await clique.idle();
    const held = store(leaving).stats.accounts;
    expect(held).toBeGreaterThan(0);

    await leaving.app.close();
    expect(store(leaving).stats).toMatchObject({ accounts: 0, handedOver: held });
    await ringOf([first, second]);
    await depositRound(2, 3);
    await clique.idle();

    expect(await balances()).toEqual(expected);
    expect(store(first).stats.takenOver + store(second).stats.takenOver).toBe(held);
    const holders = ACCOUNTS.map((id) => [first, second].filter((node) => store(node).accountIds().includes(id)).length);
    expect(holders.every((count) => count === 1)).toBe(true);
  });

  it('keeps every balance when deposits go on while the node leaves', async () => {
    const [first, second, leaving] = clique.apps;
    await depositRound(1, 2);
    await clique.idle();
    expect(store(leaving).stats.accounts).toBeGreaterThan(0);

    await Promise.all([leaving.app.close(), depositRound(2, 2)]);
    await ringOf([first, second]);
    await depositRound(3, 1);
    await clique.idle();

    expect(await balances()).toEqual(expected);
    expect(store(leaving).stats.accounts).toBe(0);
  });

  it("keeps every balance when the leaving node's flush lands after the others took its ranges and applied deposits", async () => {
    const [first, second, leaving] = clique.apps;
    await depositRound(1, 2);
    await clique.idle();
    const held = store(leaving).stats.accounts;
    expect(held).toBeGreaterThan(0);
    const acquired = new Set<string>();
    for (const node of [first, second]) node.server.on('partitionsAcquired', () => void acquired.add(node.name));

    snapshots.hold();
    const closing = leaving.app.close();
    await waitFor(() => acquired.size === 2, { bus: clique.bus, timeoutMs: 5_000, what: 'both nodes acquiring ranges' });
    await ringOf([first, second]);
    await depositRound(2, 2);
    await clique.idle();
    const moved = ACCOUNTS.filter((id) => clique.ownerOf(id) !== leaving && !store(leaving).accountIds().includes(id));
    expect(moved.length).toBe(ACCOUNTS.length);
    expect(snapshots.memory.size).toBe(0);

    snapshots.release();
    await closing;
    const takenOver = () => store(first).stats.takenOver + store(second).stats.takenOver;
    expect(snapshots.memory.size + takenOver()).toBe(held);
    expect(await balances()).toEqual(expected);
    expect([snapshots.memory.size, takenOver()]).toEqual([0, held]);
  });
});
