import {
  ArgumentsHost,
  CallHandler,
  Catch,
  CanActivate,
  Controller,
  ExecutionContext,
  Inject,
  Injectable,
  NestInterceptor,
  NotFoundException,
  UnauthorizedException,
  RpcExceptionFilter,
  UseFilters,
  UseGuards,
  UseInterceptors,
  ValidationPipe,
} from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { Payload, RpcException } from '@nestjs/microservices';
import { IsInt, IsString, Min } from 'class-validator';
import { map, Observable, throwError } from 'rxjs';
import { FlowError, MemoryBus, RemoteError } from '../core';
import { FlowContext } from './flow.context';
import { APP_NAME, closeAll, FlowTestApp, RECORDER, Recorder, startFlowApp, startFlowApps } from '../../test/flow-apps';
import { RequestHandler, StreamHandler } from './stream-handler.decorator';
import { FlowExceptionFilter } from './flow-exception.filter';

class DepositDto {
  @IsString()
  account!: string;

  @IsInt()
  @Min(1)
  amount!: number;
}

class InsufficientFunds extends Error {
  constructor(readonly balance: number) {
    super('balance too low');
  }
}

@Catch(InsufficientFunds)
class InsufficientFundsFilter implements RpcExceptionFilter<InsufficientFunds> {
  catch(exception: InsufficientFunds, _host: ArgumentsHost): Observable<never> {
    return throwError(() => ({ code: 'INSUFFICIENT_FUNDS', message: exception.message, balance: exception.balance }));
  }
}

class QuotaExceeded extends Error {}

/** A global filter of the app's own: it must see Flow handlers' exceptions too. */
@Catch(QuotaExceeded)
class QuotaFilter implements RpcExceptionFilter<QuotaExceeded> {
  catch(): Observable<never> {
    return throwError(() => ({ code: 'QUOTA', message: 'caught by a global filter' }));
  }
}

@Injectable()
class DenyGuard implements CanActivate {
  canActivate(): boolean {
    return false;
  }
}

@Injectable()
class EnvelopeInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const stream = context.switchToRpc().getContext<FlowContext>().getStream();
    return next.handle().pipe(map((body: unknown) => ({ stream, body })));
  }
}

@Controller()
class AccountsController {
  constructor(
    @Inject(APP_NAME) private readonly app: string,
    @Inject(RECORDER) private readonly recorder: Recorder<DepositDto & { app: string }>,
  ) {}

  @StreamHandler('deposits')
  deposit(@Payload() deposit: DepositDto): void {
    this.recorder.push({ ...deposit, app: this.app });
  }

  @RequestHandler('deposit')
  depositRequest(@Payload() deposit: DepositDto): { accepted: number; typed: boolean } {
    return { accepted: deposit.amount, typed: deposit instanceof DepositDto };
  }

  @RequestHandler('admin.reset')
  @UseGuards(DenyGuard)
  reset(): string {
    return 'reset';
  }

  @RequestHandler('wrapped')
  @UseInterceptors(EnvelopeInterceptor)
  wrapped(@Payload() value: number): number {
    return value * 2;
  }

  @RequestHandler('withdraw')
  @UseFilters(InsufficientFundsFilter)
  withdraw(): never {
    throw new InsufficientFunds(3);
  }

  @RequestHandler('lookup')
  lookup(@Payload() account: string): never {
    throw new NotFoundException(`no account ${account}`);
  }

  @RequestHandler('coded')
  coded(): never {
    throw Object.assign(new Error('ledger is read-only'), { code: 'LEDGER_READ_ONLY' });
  }

  @RequestHandler('uncoded')
  uncoded(): never {
    throw new Error('disk on fire');
  }

  @RequestHandler('rpc')
  rpc(): never {
    throw new RpcException({ message: 'quota exceeded', limit: 10 });
  }

  @RequestHandler('quota')
  quota(): never {
    throw new QuotaExceeded('over quota');
  }
}

class LedgerClosed extends Error {}

@Catch(LedgerClosed)
class LedgerClosedFilter implements RpcExceptionFilter<LedgerClosed> {
  catch(): Observable<never> {
    return throwError(() => ({ code: 'LEDGER_CLOSED', message: 'the ledger is closed for the day' }));
  }
}

@Injectable()
class TokenGuard implements CanActivate {
  canActivate(): boolean {
    throw new UnauthorizedException('token missing');
  }
}

@Controller()
@UseFilters(LedgerClosedFilter)
class ClosingController {
  @RequestHandler('close-day')
  closeDay(): never {
    throw new LedgerClosed();
  }

  @RequestHandler('reopen-day')
  reopenDay(): never {
    throw new NotFoundException('no closed day');
  }

  @UseFilters(InsufficientFundsFilter)
  @RequestHandler('close-with-overdraft')
  closeWithOverdraft(): never {
    throw new InsufficientFunds(-5);
  }

  @RequestHandler('audit')
  @UseGuards(TokenGuard)
  audit(): string {
    return 'audited';
  }
}

async function remoteErrorOf(promise: Promise<unknown>): Promise<RemoteError> {
  const error = await promise.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(RemoteError);
  return error as RemoteError;
}

describe('Nest enhancers on Flow handlers', () => {
  const bus = new MemoryBus();
  const recorder = new Recorder<DepositDto & { app: string }>();
  const errors: FlowError[] = [];
  let apps: FlowTestApp[];
  let publisher: FlowTestApp;

  beforeAll(async () => {
    apps = await startFlowApps(
      bus,
      {
        controllers: [AccountsController, ClosingController],
        providers: [{ provide: RECORDER, useValue: recorder }],
        flow: { onError: (error) => errors.push(error) },
        configure: (app) =>
          app
            .useGlobalPipes(new ValidationPipe({ transform: true }))
            .useGlobalFilters(new FlowExceptionFilter(), new QuotaFilter()),
      },
      ['accounts-1', 'accounts-2', 'accounts-3'],
    );
    publisher = await startFlowApp({ bus, name: 'publisher' });
  });

  afterAll(() => closeAll([...apps, publisher]));

  it('validates and transforms a request payload with the global ValidationPipe', async () => {
    await expect(publisher.client.request('deposit', { account: 'acc-1', amount: 5 }, { key: 'acc-1' })).resolves.toEqual({
      accepted: 5,
      typed: true,
    });
  });

  it('answers an invalid request with an error reply carrying the validation messages', async () => {
    const error = await remoteErrorOf(publisher.client.request('deposit', { account: 7, amount: 0 }, { key: 'acc-1' }));
    expect(error.code).toBe('HTTP_400');
    expect(error.message).toContain('account must be a string');
    expect(error.message).toContain('amount must not be less than 1');
    expect(error.details).toMatchObject({ statusCode: 400, message: expect.arrayContaining(['account must be a string']) });
  });

  it('reports an invalid event, counts it as failed, and goes on with the next message of the key', async () => {
    const failedBefore = apps.reduce((sum, app) => sum + app.broker.counters.failed, 0);
    await publisher.client.publish('deposits', { account: 'acc-2', amount: -1 }, { key: 'acc-2' });
    await publisher.client.publish('deposits', { account: 'acc-2', amount: 4 }, { key: 'acc-2' });
    const [handled] = await recorder.until(1);

    expect(handled).toMatchObject({ account: 'acc-2', amount: 4 });
    expect(apps.reduce((sum, app) => sum + app.broker.counters.failed, 0)).toBe(failedBefore + 1);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'HTTP_400' });
    expect(errors[0].message).toMatch(/stream "deposits".*amount must not be less than 1/);
  });

  it('answers with FLOW_RPC_ERROR "Forbidden resource" when a guard denies', async () => {
    const error = await remoteErrorOf(publisher.client.request('admin.reset', {}));
    expect(error).toMatchObject({ code: 'FLOW_RPC_ERROR', message: 'Forbidden resource' });
  });

  it('runs interceptors around the handler and replies with their result', async () => {
    await expect(publisher.client.request('wrapped', 21)).resolves.toEqual({ stream: 'wrapped', body: 42 });
  });

  it("replies with an exception filter's output, its code and fields included", async () => {
    const error = await remoteErrorOf(publisher.client.request('withdraw', {}));
    expect(error).toMatchObject({ code: 'INSUFFICIENT_FUNDS', message: 'balance too low' });
    expect(error.details).toMatchObject({ balance: 3 });
  });

  it('keeps the status and message of an HttpException that Nest would flatten to "Internal server error"', async () => {
    const error = await remoteErrorOf(publisher.client.request('lookup', 'acc-9'));
    expect(error).toMatchObject({ code: 'HTTP_404', message: 'no account acc-9' });
  });

  it("keeps a thrown error's own code and message, or uses FLOW_HANDLER_ERROR when it has none", async () => {
    expect(await remoteErrorOf(publisher.client.request('coded', {}))).toMatchObject({
      code: 'LEDGER_READ_ONLY',
      message: 'ledger is read-only',
    });
    expect(await remoteErrorOf(publisher.client.request('uncoded', {}))).toMatchObject({
      code: 'FLOW_HANDLER_ERROR',
      message: 'disk on fire',
    });
  });

  it('lets a filter on the controller class handle what it catches', async () => {
    expect(await remoteErrorOf(publisher.client.request('close-day', {}))).toMatchObject({
      code: 'LEDGER_CLOSED',
      message: 'the ledger is closed for the day',
    });
    expect(await remoteErrorOf(publisher.client.request('reopen-day', {}))).toMatchObject({
      code: 'HTTP_404',
      message: 'no closed day',
    });
  });

  it('applies a global exception filter of the app to Flow handlers', async () => {
    expect(await remoteErrorOf(publisher.client.request('quota', {}))).toMatchObject({
      code: 'QUOTA',
      message: 'caught by a global filter',
    });
  });

  it('ranks a filter on the method above those on the class and the global ones', async () => {
    const error = await remoteErrorOf(publisher.client.request('close-with-overdraft', {}));
    expect(error).toMatchObject({ code: 'INSUFFICIENT_FUNDS' });
    expect(error.details).toMatchObject({ balance: -5 });
  });

  it('keeps the status of an HttpException thrown by a guard', async () => {
    expect(await remoteErrorOf(publisher.client.request('audit', {}))).toMatchObject({
      code: 'HTTP_401',
      message: 'token missing',
    });
  });

  it("turns an RpcException into FLOW_RPC_ERROR with its error as details", async () => {
    const error = await remoteErrorOf(publisher.client.request('rpc', {}));
    expect(error).toMatchObject({ code: 'FLOW_RPC_ERROR', message: 'quota exceeded' });
    expect(error.details).toEqual({ message: 'quota exceeded', limit: 10 });
  });
});

describe('Nest enhancers on Flow handlers without FlowExceptionFilter', () => {
  @Controller()
  class LookupController {
    @RequestHandler('lookup')
    lookup(@Payload() account: string): never {
      throw new NotFoundException(`no account ${account}`);
    }
  }

  async function lookupError(providers: { provide: typeof APP_FILTER; useClass: unknown }[]): Promise<RemoteError> {
    const bus = new MemoryBus();
    const [app] = await startFlowApps(bus, { controllers: [LookupController], providers: providers as never[] }, ['lookup-1']);
    const publisher = await startFlowApp({ bus, name: 'publisher' });
    try {
      return await remoteErrorOf(publisher.client.request('lookup', 'acc-9'));
    } finally {
      await closeAll([app, publisher]);
    }
  }

  it("replies with Nest's default \"Internal server error\" when no filter catches", async () => {
    expect(await lookupError([])).toMatchObject({ code: 'FLOW_RPC_ERROR', message: 'Internal server error' });
  });

  it('keeps the HttpException status with FlowExceptionFilter provided as APP_FILTER', async () => {
    expect(await lookupError([{ provide: APP_FILTER, useClass: FlowExceptionFilter }])).toMatchObject({
      code: 'HTTP_404',
      message: 'no account acc-9',
    });
  });
});
