/**
 * Nest's pipes, guards, interceptors and exception filters on Flow handlers,
 * with three handler apps and a publisher on a real nats-server: what a
 * requester in another app receives, and what happens to a failed event.
 */
import {
  CallHandler,
  CanActivate,
  Catch,
  Controller,
  ExecutionContext,
  Inject,
  Injectable,
  NestInterceptor,
  RpcExceptionFilter,
  UseFilters,
  UseGuards,
  UseInterceptors,
  ValidationPipe,
} from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { IsIn, IsInt, IsString, Length, Min } from 'class-validator';
import { finalize, map, Observable, throwError } from 'rxjs';
import { FlowContext, FlowError, FlowExceptionFilter, RemoteError, RequestHandler, StreamHandler } from 'nestjs-flow';
import { startNatsServer, type NatsServer } from './harness/nats-server';
import { APP_NAME, closeApps, startFlowApp, type FlowApp } from './support/nest/flow-app';
import { Recorder } from './support/nest/recorder';
import { awaitRing } from './support/nest/ring-waits';

const BANK = Symbol('BANK');

class DepositDto {
  @IsString()
  @Length(3, 20)
  account!: string;

  @IsInt()
  @Min(1)
  amount!: number;
}

class OperatorDto {
  @IsIn(['teller', 'auditor'])
  role!: string;

  @IsString()
  account!: string;
}

/** What every app's handlers, guards, interceptors and error handlers saw. */
class Bank {
  readonly deposits = new Recorder<{ app: string; account: string; amount: number; typed: boolean }>();
  readonly audits = new Recorder<{ app: string; account: string; role: string }>();
  readonly errors = new Recorder<{ app: string; error: FlowError }>();
  readonly timings = new Recorder<{ stream: string; ms: number }>();
}

class Overdraft extends Error {
  constructor(
    readonly balance: number,
    readonly requested: number,
  ) {
    super(`cannot withdraw ${requested} from a balance of ${balance}`);
  }
}

@Catch(Overdraft)
class OverdraftFilter implements RpcExceptionFilter<Overdraft> {
  catch(exception: Overdraft): Observable<never> {
    return throwError(() => ({
      code: 'OVERDRAFT',
      message: exception.message,
      balance: exception.balance,
      requested: exception.requested,
    }));
  }
}

/** Lets auditors through only. */
@Injectable()
class AuditorGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return context.switchToRpc().getData<{ role?: unknown }>().role === 'auditor';
  }
}

/** Wraps the reply in an envelope naming the stream and the app, and measures the handler. */
@Injectable()
class EnvelopeInterceptor implements NestInterceptor {
  constructor(
    @Inject(APP_NAME) private readonly app: string,
    @Inject(BANK) private readonly bank: Bank,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const stream = context.switchToRpc().getContext<FlowContext>().getStream();
    const started = performance.now();
    return next.handle().pipe(
      map((body: unknown) => ({ stream, app: this.app, body })),
      finalize(() => this.bank.timings.push({ stream, ms: performance.now() - started })),
    );
  }
}

@Controller()
class BankController {
  constructor(
    @Inject(APP_NAME) private readonly app: string,
    @Inject(BANK) private readonly bank: Bank,
  ) {}

  @RequestHandler('bank.deposit')
  deposit(@Payload() deposit: DepositDto): { accepted: number; typed: boolean } {
    return { accepted: deposit.amount, typed: deposit instanceof DepositDto };
  }

  @StreamHandler('bank.deposits')
  depositEvent(@Payload() deposit: DepositDto): void {
    this.bank.deposits.push({ app: this.app, ...deposit, typed: deposit instanceof DepositDto });
  }

  @RequestHandler('bank.statement')
  @UseGuards(AuditorGuard)
  statement(@Payload() operator: OperatorDto): string {
    return `statement of ${operator.account}`;
  }

  @StreamHandler('bank.audits')
  @UseGuards(AuditorGuard)
  audit(@Payload() operator: OperatorDto): void {
    this.bank.audits.push({ app: this.app, account: operator.account, role: operator.role });
  }

  @RequestHandler('bank.rate')
  @UseInterceptors(EnvelopeInterceptor)
  async rate(@Payload() query: { account: string }, @Ctx() context: FlowContext): Promise<{ account: string; key: string; rate: number }> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    return { account: query.account, key: context.getPartitionKey(), rate: 0.25 };
  }

  @RequestHandler('bank.withdraw')
  @UseFilters(OverdraftFilter)
  withdraw(@Payload() request: { amount: number }): never {
    throw new Overdraft(10, request.amount);
  }
}

async function remoteErrorOf(promise: Promise<unknown>): Promise<RemoteError> {
  const failure = await promise.then(
    (value: unknown) => new Error(`expected a RemoteError, got ${JSON.stringify(value)}`),
    (error: unknown) => error,
  );
  expect(failure).toBeInstanceOf(RemoteError);
  return failure as RemoteError;
}

describe('Flow apps on a real nats-server: pipes, guards, interceptors and filters', () => {
  let server: NatsServer;
  const bank = new Bank();
  const handlers: FlowApp[] = [];
  let publisher: FlowApp;

  beforeAll(async () => {
    server = await startNatsServer();
    for (const name of ['bank-1', 'bank-2', 'bank-3']) {
      handlers.push(
        await startFlowApp({
          servers: server.url,
          name,
          controllers: [BankController],
          providers: [{ provide: BANK, useValue: bank }],
          flow: { onError: (error) => bank.errors.push({ app: name, error }) },
          // FlowExceptionFilter as a global filter of the microservice: HttpExceptions keep their status.
          configure: (app) =>
            app.useGlobalPipes(new ValidationPipe({ transform: true })).useGlobalFilters(new FlowExceptionFilter()),
        }),
      );
    }
    publisher = await startFlowApp({ servers: server.url, name: 'bank-teller' });
    await awaitRing(handlers, 48);
  });

  afterAll(async () => {
    await closeApps([...handlers, publisher]);
    await server?.stop();
  });

  const failed = (): number => handlers.reduce((sum, app) => sum + app.broker.counters.failed, 0);

  it('passes a valid request through the ValidationPipe as a DTO instance', async () => {
    await expect(
      publisher.client.request('bank.deposit', { account: 'acc-1', amount: 5 }, { key: 'acc-1' }),
    ).resolves.toEqual({ accepted: 5, typed: true });
  });

  it('answers an invalid request with RemoteError HTTP_400 carrying the validation messages in its details', async () => {
    const error = await remoteErrorOf(publisher.client.request('bank.deposit', { account: 7, amount: 0 }, { key: 'acc-1' }));

    expect(error.code).toBe('HTTP_400');
    expect(error.stream).toBe('bank.deposit');
    expect(error.message).toContain('amount must not be less than 1');
    expect(error.details).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message: expect.arrayContaining([
        'account must be longer than or equal to 3 and shorter than or equal to 20 characters',
        'account must be a string',
        'amount must not be less than 1',
      ]),
    });
  });

  it('reports an invalid event to onError, counts it as failed, and handles the next message of the key', async () => {
    const failedBefore = failed();
    const errorsBefore = bank.errors.entries.length;
    await publisher.client.publish('bank.deposits', { account: 'acc-2', amount: -3 }, { key: 'acc-2' });
    await publisher.client.publish('bank.deposits', { account: 'acc-2', amount: 4 }, { key: 'acc-2' });

    const [handled] = await bank.deposits.until(1);
    const [reported] = (await bank.errors.until(errorsBefore + 1)).slice(errorsBefore);

    expect(handled).toMatchObject({ account: 'acc-2', amount: 4, typed: true });
    expect(bank.deposits.entries).toHaveLength(1);
    expect(reported!.app).toBe(handled!.app);
    expect(reported!.error).toMatchObject({ code: 'HTTP_400' });
    expect(reported!.error.message).toMatch(/stream "bank\.deposits".*amount must not be less than 1/);
    expect(failed()).toBe(failedBefore + 1);
  });

  it('answers a request that a guard denies with an error reply, and lets the permitted one through', async () => {
    const denied = await remoteErrorOf(
      publisher.client.request('bank.statement', { role: 'teller', account: 'acc-3' }, { key: 'acc-3' }),
    );
    expect(denied).toMatchObject({ code: 'FLOW_RPC_ERROR', message: 'Forbidden resource' });

    await expect(
      publisher.client.request('bank.statement', { role: 'auditor', account: 'acc-3' }, { key: 'acc-3' }),
    ).resolves.toBe('statement of acc-3');
  });

  it('does not handle an event that a guard denies, reports it, and handles the permitted one after it', async () => {
    const errorsBefore = bank.errors.entries.length;
    const failedBefore = failed();
    await publisher.client.publish('bank.audits', { role: 'teller', account: 'acc-4' }, { key: 'acc-4' });
    await publisher.client.publish('bank.audits', { role: 'auditor', account: 'acc-4' }, { key: 'acc-4' });

    await bank.audits.until(1);
    const [reported] = (await bank.errors.until(errorsBefore + 1)).slice(errorsBefore);

    expect(bank.audits.entries).toEqual([{ app: expect.any(String), account: 'acc-4', role: 'auditor' }]);
    expect(reported!.error).toMatchObject({ code: 'FLOW_RPC_ERROR' });
    expect(reported!.error.message).toContain('Forbidden resource');
    expect(failed()).toBe(failedBefore + 1);
  });

  it('replies with what an interceptor made of the handler result, after it measured the handler', async () => {
    const timingsBefore = bank.timings.entries.length;
    const reply = await publisher.client.request<{ stream: string; app: string; body: unknown }>(
      'bank.rate',
      { account: 'acc-5' },
      { key: 'acc-5' },
    );

    expect(reply).toEqual({ stream: 'bank.rate', app: expect.stringMatching(/^bank-[123]$/), body: { account: 'acc-5', key: 'acc-5', rate: 0.25 } });
    const owner = handlers[0]!.broker.ownerOf('acc-5')!.toString();
    expect(handlers.find((app) => app.positions.has(owner))!.name).toBe(reply.app);
    const [timing] = bank.timings.entries.slice(timingsBefore);
    expect(timing).toEqual({ stream: 'bank.rate', ms: expect.any(Number) });
    expect(timing!.ms).toBeGreaterThan(0);
  });

  it("shapes the error reply with a method's exception filter: its code, message and fields reach the requester", async () => {
    const error = await remoteErrorOf(publisher.client.request('bank.withdraw', { amount: 25 }, { key: 'acc-6' }));

    expect(error).toMatchObject({ code: 'OVERDRAFT', message: 'cannot withdraw 25 from a balance of 10', stream: 'bank.withdraw' });
    expect(error.details).toEqual({
      code: 'OVERDRAFT',
      message: 'cannot withdraw 25 from a balance of 10',
      balance: 10,
      requested: 25,
    });
  });
});
