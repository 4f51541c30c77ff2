import { IsInt, IsNotEmpty, IsOptional, IsPositive, IsString, Length, Matches, Max } from 'class-validator';
import { ACCOUNT_ID_PATTERN } from './account-id';

/** The largest amount one command may move, in minor units: keeps every balance a safe integer. */
export const MAX_AMOUNT = 1_000_000_000;

/** A deposit or a withdrawal (the stream says which), published with the account id as partition key. */
export class LedgerCommandDto {
  @IsString()
  @IsNotEmpty()
  @Matches(ACCOUNT_ID_PATTERN)
  accountId!: string;

  /** Minor units (cents), so sums are exact. */
  @IsInt()
  @IsPositive()
  @Max(MAX_AMOUNT)
  amount!: number;

  /**
   * Idempotency key: a command whose reference the account has seen recently
   * is not applied again (Flow forwards at least once inside the clique).
   */
  @IsOptional()
  @IsString()
  @Length(1, 64)
  reference?: string;
}
