/**
 * Flow through Nest, used the way its docs show: an app is a microservice
 * with FlowServer as its strategy and @StreamHandler/@RequestHandler methods
 * (FlowModule.forRoot({ servers }), defaults otherwise); the publisher is an
 * app context whose FlowModule has no handlers (it never joins the ring) and
 * uses FlowClient. The publisher hands FlowModule its own NATS connection so
 * that it can flush it between batches, as the Nest publisher does.
 */
import { Controller, DynamicModule, Inject, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AsyncMicroserviceOptions, Payload } from '@nestjs/microservices';
import { connect } from 'nats';
import { FlowClient, FlowModule, FlowServer, RequestHandler, StreamHandler, type FlowModuleOptions } from 'nestjs-flow';
import { EVENT_STREAM, REQUEST_STREAM, type BenchPayload, type WorkerConfig } from './bench-ipc';
import { BENCH_TALLY, BenchTally } from './bench-tally';
import type { RunningRole } from './running-role';

@Controller()
class FlowBenchController {
  constructor(@Inject(BENCH_TALLY) private readonly tally: BenchTally) {}

  @StreamHandler(EVENT_STREAM)
  onEvent(@Payload() payload: BenchPayload): void {
    this.tally.event(payload);
  }

  @RequestHandler(REQUEST_STREAM)
  onRequest(@Payload() payload: BenchPayload): { seq: number } {
    return this.tally.request(payload);
  }
}

@Module({})
class FlowBenchModule {
  static with(options: FlowModuleOptions, tally: BenchTally, handlers: boolean): DynamicModule {
    return {
      module: FlowBenchModule,
      imports: [FlowModule.forRoot(options)],
      controllers: handlers ? [FlowBenchController] : [],
      providers: [{ provide: BENCH_TALLY, useValue: tally }],
    };
  }
}

export async function startFlowApp(config: WorkerConfig, tally: BenchTally): Promise<RunningRole> {
  const options: FlowModuleOptions = {
    servers: config.servers,
    nodeName: config.name,
    name: config.name,
    onError: (error) => tally.countError(error),
  };
  const app = await NestFactory.createMicroservice<AsyncMicroserviceOptions>(FlowBenchModule.with(options, tally, true), {
    inject: [FlowServer],
    useFactory: (strategy: FlowServer) => ({ strategy }),
    logger: false,
  });
  await app.listen();
  return { broker: app.get(FlowServer).unwrap(), close: () => app.close() };
}

export async function startFlowPublisher(config: WorkerConfig, tally: BenchTally): Promise<RunningRole> {
  const connection = await connect({ servers: [config.servers], name: config.name });
  const options: FlowModuleOptions = { connection, nodeName: config.name, onError: (error) => tally.countError(error) };
  const app = await NestFactory.createApplicationContext(FlowBenchModule.with(options, tally, false), { logger: false });
  const client = app.get(FlowClient);
  const broker = await client.connect();
  return {
    broker,
    target: {
      emit: (payload, key) => client.publish(EVENT_STREAM, payload, { key }),
      flush: () => connection.flush(),
      request: (payload, key) => client.request(REQUEST_STREAM, payload, { key }),
    },
    close: async () => {
      await app.close();
      await connection.close();
    },
  };
}
