/**
 * The ledger's Flow streams (NATS subjects). Every command and query is keyed
 * by its account id, so one node owns an account's balance and sees all of
 * its commands.
 */
export const LedgerStream = {
  /** Message stream: LedgerCommandDto, adds `amount` to the balance. */
  Deposit: 'ledger.deposit',
  /** Message stream: LedgerCommandDto, subtracts `amount` (overdrafts allowed, see LedgerStore). */
  Withdraw: 'ledger.withdraw',
  /** Request stream: BalanceQueryDto in, BalanceReply out. */
  Balance: 'ledger.balance',
} as const;

export type LedgerStream = (typeof LedgerStream)[keyof typeof LedgerStream];

/** The two command streams, and what each does to a balance. */
export type LedgerCommandKind = 'deposit' | 'withdraw';

/**
 * The clique of ledger nodes. It may not be `ledger`: a clique's node
 * subjects are `<clique>.<key>`, which would collide with the streams.
 */
export const LEDGER_CLIQUE = 'ledger-nodes';
