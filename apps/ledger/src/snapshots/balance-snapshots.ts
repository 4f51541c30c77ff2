import type { KeyRange } from 'nestjs-flow';

/** An account's balance on its way from the node that released it to the node that owns it now. */
export interface BalanceSnapshot {
  readonly accountId: string;
  /** The account's partition hash (`FlowContext.getPartition()`), 16 hex digits. */
  readonly partition: string;
  readonly balance: number;
  /** Commands applied to the account. */
  readonly applied: number;
}

/**
 * Where released balances wait for their account's next owner. Snapshots
 * add up: `save` adds to what the store holds for an account, `take` returns
 * it once and removes it. That makes the order of a release and the next
 * owner's acquisition irrelevant (a leaving node flushes only after its
 * handlers finished, when the next owner may already have applied commands).
 */
export interface BalanceSnapshots {
  /** Adds each snapshot to the one stored for its account (or stores it). */
  save(snapshots: readonly BalanceSnapshot[]): Promise<void>;
  /** Returns and removes the snapshots of the accounts whose partition is in `ranges`. */
  take(ranges: readonly KeyRange[]): Promise<BalanceSnapshot[]>;
  /** Calls `listener` with every snapshot saved from now on (by any node); returns the unsubscribe function. */
  watch(listener: (saved: { readonly accountId: string; readonly partition: string }) => void): () => void;
}

/** The Nest token of the node's BalanceSnapshots. */
export const BALANCE_SNAPSHOTS = Symbol('BalanceSnapshots');

/**
 * Whether a partition hash (16 hex digits) is in one of the ranges. Both are
 * fixed-width lowercase hex, so string order is numeric order; a range with
 * `from > to` wraps around zero.
 */
export function inRanges(partition: string, ranges: readonly KeyRange[]): boolean {
  return ranges.some(({ from, to }) =>
    from <= to ? from <= partition && partition <= to : partition >= from || partition <= to,
  );
}

/** The sum of two snapshots of one account. */
export function addSnapshots(a: BalanceSnapshot, b: BalanceSnapshot): BalanceSnapshot {
  return { ...a, balance: a.balance + b.balance, applied: a.applied + b.applied };
}
