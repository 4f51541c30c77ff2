import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { FlowContext, OnPartitionsAcquired, OnPartitionsReleased, OwnershipChange } from 'nestjs-flow';
import type { LedgerCommandKind } from './ledger.streams';
import { BALANCE_SNAPSHOTS, BalanceSnapshot, BalanceSnapshots, inRanges } from './snapshots/balance-snapshots';

/** What one node has done; every field only grows, except `accounts`. */
export interface LedgerStats {
  /** Accounts this node holds a balance for (those it owns and has seen a command for). */
  readonly accounts: number;
  /** Commands applied (deposits + withdrawals). */
  readonly applied: number;
  readonly deposits: number;
  readonly withdrawals: number;
  /** Withdrawals that left their account below zero. */
  readonly overdrafts: number;
  /** Commands skipped because their account had already applied their reference. */
  readonly duplicates: number;
  /** Account balances handed over to the snapshot store (released ranges, or applied after a move). */
  readonly handedOver: number;
  /** Account balances taken from the snapshot store (acquired ranges, or saved after the acquisition). */
  readonly takenOver: number;
}

export interface LedgerCommand {
  readonly accountId: string;
  readonly amount: number;
  readonly reference?: string;
}

/** What the store reads of a command's FlowContext: the account's hash and whether this node still owns it. */
export type AccountContext = Pick<FlowContext, 'getPartition' | 'isStillOwner'>;

export interface AccountBalance {
  readonly balance: number;
  readonly applied: number;
}

/** `applied`, or `duplicate` when the reference was seen and nothing changed. */
export type ApplyOutcome = 'applied' | 'duplicate';

/** References remembered per account for deduplication; a retried forward arrives within seconds. */
export const REMEMBERED_REFERENCES = 1024;

interface Account {
  readonly partition: string;
  balance: number;
  applied: number;
  /** Recent references, oldest first (Set keeps insertion order). */
  readonly references: Set<string>;
}

/**
 * The balances this node owns, in memory. Flow routes every command of an
 * account to the account's owner and runs them one at a time, so this store
 * needs no locking.
 *
 * When ownership moves, balances move through the BalanceSnapshots store:
 * the released hook hands over the accounts of the released ranges; the
 * acquired hook takes the snapshots of the acquired ranges, and every command
 * waits for those loads first. A leaving node flushes only after its last
 * handler, when the next owner may already have applied commands, so
 * snapshots add up: each node watches the store and takes a snapshot saved
 * after its acquisition before the account's next command or query. A
 * command that runs on a node no longer owning its account (one queued before
 * the move) is handed over right after it is applied.
 *
 * Withdrawals may overdraw. The commands of one account can enter the clique
 * through different nodes, each forwarding to the owner, so the owner's
 * arrival order is not the publish order: a withdrawal may arrive before the
 * deposit that covered it. Rejecting it would make the result depend on
 * timing; applying it and counting the overdraft keeps every final balance
 * equal to deposits minus withdrawals, whatever the order.
 */
@Injectable()
export class LedgerStore implements OnModuleInit, OnModuleDestroy {
  readonly #accounts = new Map<string, Account>();
  readonly #listeners = new Set<() => void>();
  /** Accounts with a snapshot saved since it was last taken: the next command or query takes it. */
  readonly #incoming = new Set<string>();
  /** Settles when every acquisition's snapshots are taken. */
  #loading: Promise<void> = Promise.resolve();
  #unwatch: (() => void) | undefined;
  #applied = 0;
  #deposits = 0;
  #withdrawals = 0;
  #overdrafts = 0;
  #duplicates = 0;
  #handedOver = 0;
  #takenOver = 0;

  constructor(@Inject(BALANCE_SNAPSHOTS) private readonly snapshots: BalanceSnapshots) {}

  onModuleInit(): void {
    this.#unwatch = this.snapshots.watch(({ accountId }) => this.#incoming.add(accountId));
  }

  onModuleDestroy(): void {
    this.#unwatch?.();
  }

  /** Takes the snapshots of the acquired ranges; commands wait for it. */
  @OnPartitionsAcquired()
  load({ ranges }: OwnershipChange): Promise<void> {
    const loading = this.snapshots.take(ranges).then((taken) => this.#absorb(taken));
    // A failed load is reported by Flow (onError); the snapshots stay in the store.
    this.#loading = Promise.all([this.#loading, loading.catch(() => undefined)]).then(() => undefined);
    return loading;
  }

  /** Hands over the accounts of the released ranges; on a graceful shutdown Flow awaits it. */
  @OnPartitionsReleased()
  async flush({ ranges }: OwnershipChange): Promise<void> {
    await this.#loading;
    await this.#handOver((account) => inRanges(account.partition, ranges));
  }

  async apply(kind: LedgerCommandKind, command: LedgerCommand, context: AccountContext): Promise<ApplyOutcome> {
    const partition = partitionOf(context);
    await this.#ready(command.accountId, partition);
    const outcome = this.#applyNow(kind, command, partition);
    if (!context.isStillOwner()) await this.#handOver((_, accountId) => accountId === command.accountId);
    return outcome;
  }

  /** Balance 0 and nothing applied for an account this node has not seen. */
  async balanceOf(accountId: string, context: AccountContext): Promise<AccountBalance> {
    await this.#ready(accountId, partitionOf(context));
    const account = this.#accounts.get(accountId);
    const balance = { balance: account?.balance ?? 0, applied: account?.applied ?? 0 };
    if (account !== undefined && !context.isStillOwner()) await this.#handOver((_, id) => id === accountId);
    return balance;
  }

  /** The ids of the accounts this node holds, in first-seen order. */
  accountIds(): string[] {
    return [...this.#accounts.keys()];
  }

  get stats(): LedgerStats {
    return {
      accounts: this.#accounts.size,
      applied: this.#applied,
      deposits: this.#deposits,
      withdrawals: this.#withdrawals,
      overdrafts: this.#overdrafts,
      duplicates: this.#duplicates,
      handedOver: this.#handedOver,
      takenOver: this.#takenOver,
    };
  }

  /** Calls `listener` after every command, applied or duplicate, and every hand-over; returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #applyNow(kind: LedgerCommandKind, command: LedgerCommand, partition: string): ApplyOutcome {
    const account = this.#account(command.accountId, partition);
    if (command.reference !== undefined && !remember(account.references, command.reference)) {
      this.#duplicates++;
      this.#notify();
      return 'duplicate';
    }
    if (kind === 'deposit') {
      account.balance += command.amount;
      this.#deposits++;
    } else {
      account.balance -= command.amount;
      this.#withdrawals++;
      if (account.balance < 0) this.#overdrafts++;
    }
    account.applied++;
    this.#applied++;
    this.#notify();
    return 'applied';
  }

  /** Waits for the acquisitions' loads, then takes a snapshot of the account saved since. */
  async #ready(accountId: string, partition: string): Promise<void> {
    await this.#loading;
    if (this.#incoming.delete(accountId)) {
      this.#absorb(await this.snapshots.take([{ from: partition, to: partition }]));
    }
  }

  #absorb(taken: readonly BalanceSnapshot[]): void {
    for (const snapshot of taken) {
      const account = this.#account(snapshot.accountId, snapshot.partition);
      account.balance += snapshot.balance;
      account.applied += snapshot.applied;
      this.#takenOver++;
    }
  }

  async #handOver(which: (account: Account, accountId: string) => boolean): Promise<void> {
    const leaving: BalanceSnapshot[] = [];
    for (const [accountId, account] of this.#accounts) {
      if (!which(account, accountId)) continue;
      leaving.push({ accountId, partition: account.partition, balance: account.balance, applied: account.applied });
      this.#accounts.delete(accountId);
    }
    if (leaving.length === 0) return;
    this.#handedOver += leaving.length;
    this.#notify();
    await this.snapshots.save(leaving);
  }

  #account(accountId: string, partition: string): Account {
    let account = this.#accounts.get(accountId);
    if (account === undefined) {
      account = { partition, balance: 0, applied: 0, references: new Set() };
      this.#accounts.set(accountId, account);
    }
    return account;
  }

  #notify(): void {
    for (const listener of this.#listeners) listener();
  }
}

/** The account's partition hash; every ledger message is keyed by its account. */
function partitionOf(context: AccountContext): string {
  const partition = context.getPartition();
  if (partition === undefined) throw new Error('a ledger command or query must be keyed by its account id');
  return partition;
}

/** Adds `reference` to the window; false when it was already there. */
function remember(references: Set<string>, reference: string): boolean {
  if (references.has(reference)) return false;
  references.add(reference);
  if (references.size > REMEMBERED_REFERENCES) {
    references.delete(references.values().next().value as string);
  }
  return true;
}
