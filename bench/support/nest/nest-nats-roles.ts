/**
 * The peer: Nest's built-in NATS transport, used the way its docs show. A
 * consumer is a microservice whose handlers join the queue group `bench`;
 * the publisher is an app context with a ClientProxy from ClientsModule.
 */
import { Controller, DynamicModule, Inject, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  ClientProxy,
  ClientsModule,
  EventPattern,
  MessagePattern,
  MicroserviceOptions,
  Payload,
  Transport,
} from '@nestjs/microservices';
import type { NatsConnection } from 'nats';
import { firstValueFrom, lastValueFrom } from 'rxjs';
import { EVENT_STREAM, REQUEST_STREAM, type BenchPayload, type WorkerConfig } from './bench-ipc';
import { BENCH_TALLY, BenchTally } from './bench-tally';
import type { RunningRole } from './running-role';

const NEST_CLIENT = Symbol('NEST_CLIENT');
const QUEUE = 'bench';

@Controller()
class NestConsumerController {
  constructor(@Inject(BENCH_TALLY) private readonly tally: BenchTally) {}

  @EventPattern(EVENT_STREAM)
  onEvent(@Payload() payload: BenchPayload): void {
    this.tally.event(payload);
  }

  @MessagePattern(REQUEST_STREAM)
  onRequest(@Payload() payload: BenchPayload): { seq: number } {
    return this.tally.request(payload);
  }
}

@Module({})
class NestConsumerModule {
  static with(tally: BenchTally): DynamicModule {
    return {
      module: NestConsumerModule,
      controllers: [NestConsumerController],
      providers: [{ provide: BENCH_TALLY, useValue: tally }],
    };
  }
}

@Module({})
class NestPublisherModule {
  static with(config: WorkerConfig): DynamicModule {
    return {
      module: NestPublisherModule,
      imports: [
        ClientsModule.register([
          { name: NEST_CLIENT, transport: Transport.NATS, options: { servers: [config.servers], name: config.name } },
        ]),
      ],
    };
  }
}

export async function startNestConsumer(config: WorkerConfig, tally: BenchTally): Promise<RunningRole> {
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(NestConsumerModule.with(tally), {
    transport: Transport.NATS,
    options: { servers: [config.servers], queue: QUEUE, name: config.name },
    logger: false,
  });
  await app.listen();
  void countStatusErrors(app.unwrap<NatsConnection>(), tally);
  return { close: () => app.close() };
}

export async function startNestPublisher(config: WorkerConfig, tally: BenchTally): Promise<RunningRole> {
  const app = await NestFactory.createApplicationContext(NestPublisherModule.with(config), { logger: false });
  const client = app.get<ClientProxy>(NEST_CLIENT);
  await client.connect();
  const connection = client.unwrap<NatsConnection>();
  void countStatusErrors(connection, tally);
  return {
    target: {
      emit: (payload) => lastValueFrom(client.emit(EVENT_STREAM, payload), { defaultValue: undefined }),
      flush: () => connection.flush(),
      request: (payload) => firstValueFrom(client.send(REQUEST_STREAM, payload)),
    },
    close: () => app.close(),
  };
}

/** Slow-consumer and other asynchronous errors the NATS client reports. */
async function countStatusErrors(connection: NatsConnection, tally: BenchTally): Promise<void> {
  for await (const status of connection.status()) {
    if (status.type === 'error' || status.type === 'disconnect') tally.countError({ code: `nats ${status.type}: ${String(status.data)}` });
  }
}
