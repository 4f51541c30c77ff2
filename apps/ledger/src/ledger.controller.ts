import { BadRequestException, Controller, UseFilters, UsePipes, ValidationPipe } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { FlowContext, FlowExceptionFilter, RequestHandler, StreamHandler } from 'nestjs-flow';
import { BalanceQueryDto } from './dto/balance-query.dto';
import { BalanceReply } from './dto/balance-reply';
import { LedgerCommandDto } from './dto/ledger-command.dto';
import { LedgerStore } from './ledger.store';
import { LedgerStream } from './ledger.streams';

/**
 * The ledger's Flow handlers. Each runs on the node that owns the account,
 * one command of an account at a time (after the balances of newly acquired
 * ranges are loaded: see LedgerStore). Payloads are validated (unknown fields
 * are refused too): an invalid command is reported to the node's `onError`
 * and counted by Flow; an invalid query gets an HTTP_400 error reply that
 * carries the validation messages (FlowExceptionFilter keeps them: without
 * it, Nest's default would reply "Internal server error").
 */
@Controller()
@UseFilters(FlowExceptionFilter)
@UsePipes(new ValidationPipe({ transform: true, whitelist: true, forbidNonWhitelisted: true }))
export class LedgerController {
  constructor(private readonly store: LedgerStore) {}

  @StreamHandler(LedgerStream.Deposit)
  async deposit(@Payload() command: LedgerCommandDto, @Ctx() context: FlowContext): Promise<void> {
    assertRoutedBy(command.accountId, context);
    await this.store.apply('deposit', command, context);
  }

  @StreamHandler(LedgerStream.Withdraw)
  async withdraw(@Payload() command: LedgerCommandDto, @Ctx() context: FlowContext): Promise<void> {
    assertRoutedBy(command.accountId, context);
    await this.store.apply('withdraw', command, context);
  }

  @RequestHandler(LedgerStream.Balance)
  async balance(@Payload() query: BalanceQueryDto, @Ctx() context: FlowContext): Promise<BalanceReply> {
    assertRoutedBy(query.accountId, context);
    const { balance, applied } = await this.store.balanceOf(query.accountId, context);
    return { accountId: query.accountId, balance, node: context.getNodeKey(), applied };
  }
}

/**
 * The partition key decides which node handles a message. One published under
 * another key would land on a node that does not own the account and split its
 * balance across nodes, so it is refused.
 */
function assertRoutedBy(accountId: string, context: FlowContext): void {
  const key = context.getPartitionKey();
  if (key !== accountId) {
    throw new BadRequestException(`partition key "${key}" must equal accountId "${accountId}"`);
  }
}
