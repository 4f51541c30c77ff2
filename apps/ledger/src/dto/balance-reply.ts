/** The answer to a balance query, given by the node that owns the account. */
export interface BalanceReply {
  readonly accountId: string;
  /** Minor units; negative after an overdraft. 0 for an account never seen. */
  readonly balance: number;
  /** Node key (16 hex digits) of the node that owns the account and answered. */
  readonly node: string;
  /** Commands applied to this account (duplicates and rejected commands excluded). */
  readonly applied: number;
}
