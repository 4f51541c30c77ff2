import { Injectable } from '@nestjs/common';
import type { LedgerCommandKind } from './ledger.streams';

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
}

export interface LedgerCommand {
  readonly accountId: string;
  readonly amount: number;
  readonly reference?: string;
}

export interface AccountBalance {
  readonly balance: number;
  readonly applied: number;
}

/** `applied`, or `duplicate` when the reference was seen and nothing changed. */
export type ApplyOutcome = 'applied' | 'duplicate';

/** References remembered per account for deduplication; a retried forward arrives within seconds. */
export const REMEMBERED_REFERENCES = 1024;

interface Account {
  balance: number;
  applied: number;
  /** Recent references, oldest first (Set keeps insertion order). */
  readonly references: Set<string>;
}

/**
 * The balances this node owns, in memory. Flow routes every command of an
 * account to the account's owner and runs them one at a time, so this store
 * needs no locking and no other node ever holds the same account (while the
 * ring is stable; Flow does not hand state over when membership changes).
 *
 * Withdrawals may overdraw. The commands of one account can enter the clique
 * through different nodes, each forwarding to the owner, so the owner's
 * arrival order is not the publish order: a withdrawal may arrive before the
 * deposit that covered it. Rejecting it would make the result depend on
 * timing; applying it and counting the overdraft keeps every final balance
 * equal to deposits minus withdrawals, whatever the order.
 */
@Injectable()
export class LedgerStore {
  readonly #accounts = new Map<string, Account>();
  readonly #listeners = new Set<() => void>();
  #applied = 0;
  #deposits = 0;
  #withdrawals = 0;
  #overdrafts = 0;
  #duplicates = 0;

  apply(kind: LedgerCommandKind, command: LedgerCommand): ApplyOutcome {
    const account = this.#account(command.accountId);
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

  /** Balance 0 and nothing applied for an account this node has not seen. */
  balanceOf(accountId: string): AccountBalance {
    const account = this.#accounts.get(accountId);
    return { balance: account?.balance ?? 0, applied: account?.applied ?? 0 };
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
    };
  }

  /** Calls `listener` after every command, applied or duplicate; returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #account(accountId: string): Account {
    let account = this.#accounts.get(accountId);
    if (account === undefined) {
      account = { balance: 0, applied: 0, references: new Set() };
      this.#accounts.set(accountId, account);
    }
    return account;
  }

  #notify(): void {
    for (const listener of this.#listeners) listener();
  }
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
