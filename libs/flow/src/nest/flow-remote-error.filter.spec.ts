import { BadRequestException, Controller, Get, INestApplication, UseFilters } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { Payload } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { AddressInfo } from 'node:net';
import { MemoryBus, RemoteError } from '../core';
import { NodeHttpAdapter } from '../../test/node-http-adapter';
import { FlowClient } from './flow.client';
import { FlowModule } from './flow.module';
import { FlowServer } from './flow.server';
import { FlowRemoteErrorFilter, httpResponseOf } from './flow-remote-error.filter';
import { RequestHandler } from './stream-handler.decorator';
import { FlowExceptionFilter } from './flow-exception.filter';

@Controller()
@UseFilters(FlowExceptionFilter)
class OrdersHandler {
  @RequestHandler('orders.create')
  create(@Payload() order: { amount?: unknown }): { id: string } {
    if (typeof order.amount !== 'number') throw new BadRequestException(['amount must be a number']);
    return { id: 'order-1' };
  }

  @RequestHandler('orders.fail')
  fail(): never {
    throw new Error('database unavailable');
  }
}

@Controller('http')
class OrdersHttp {
  constructor(private readonly client: FlowClient) {}

  @Get('valid')
  valid(): Promise<unknown> {
    return this.client.request('orders.create', { amount: 5 }, { key: 'c-1' });
  }

  @Get('invalid')
  invalid(): Promise<unknown> {
    return this.client.request('orders.create', { amount: 'five' }, { key: 'c-1' });
  }

  @Get('failing')
  failing(): Promise<unknown> {
    return this.client.request('orders.fail', {}, { key: 'c-1' });
  }
}

describe('FlowRemoteErrorFilter', () => {
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [FlowModule.forRoot({ embedded: { bus: new MemoryBus() }, virtualNodes: 4, logger: false })],
      controllers: [OrdersHandler, OrdersHttp],
    }).compile();
    app = moduleRef.createNestApplication(new NodeHttpAdapter(), { logger: false });
    app.useGlobalFilters(new FlowRemoteErrorFilter(app.get(HttpAdapterHost)));
    app.connectMicroservice({ strategy: app.get(FlowServer) }, { inheritAppConfig: true });
    await app.startAllMicroservices();
    await app.listen(0);
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });

  afterAll(() => app.close());

  it('leaves a successful reply alone', async () => {
    const response = await fetch(`${base}/http/valid`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ id: 'order-1' });
  });

  it('answers an HTTP caller with the remote HttpException status and body (a validation failure is a 400)', async () => {
    const response = await fetch(`${base}/http/invalid`);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      statusCode: 400,
      message: ['amount must be a number'],
      error: 'Bad Request',
    });
  });

  it('answers 500 with the remote code for a failure that carries no HTTP status', async () => {
    const response = await fetch(`${base}/http/failing`);
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ statusCode: 500, message: 'Internal server error', code: 'FLOW_HANDLER_ERROR' });
  });

  it('maps codes without a body and out-of-range codes', () => {
    expect(httpResponseOf(new RemoteError('HTTP_404', 'no such order'))).toEqual({
      status: 404,
      body: { statusCode: 404, message: 'no such order' },
    });
    expect(httpResponseOf(new RemoteError('HTTP_999', 'odd')).status).toBe(500);
  });

  it('rethrows outside HTTP, so the error travels on unchanged', (done) => {
    const error = new RemoteError('HTTP_400', 'bad');
    const host = { getType: () => 'rpc' } as never;
    const result = new FlowRemoteErrorFilter(app.get(HttpAdapterHost)).catch(error, host);
    result!.subscribe({ error: (thrown: unknown) => (expect(thrown).toBe(error), done()) });
  });
});
