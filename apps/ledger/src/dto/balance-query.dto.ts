import { IsNotEmpty, IsString, Matches } from 'class-validator';
import { ACCOUNT_ID_PATTERN } from './account-id';

/** A balance query, sent as a request with the account id as partition key. */
export class BalanceQueryDto {
  @IsString()
  @IsNotEmpty()
  @Matches(ACCOUNT_ID_PATTERN)
  accountId!: string;
}
