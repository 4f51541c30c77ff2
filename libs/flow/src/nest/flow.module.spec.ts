import { Controller, Injectable, Logger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AsyncMicroserviceOptions, Payload } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { MemoryBus } from '../core';
import { FlowBrokerHost } from './broker-host';
import { FLOW_MODULE_OPTIONS } from './flow.constants';
import { FlowClient } from './flow.client';
import { FlowModule } from './flow.module';
import { FlowOptionsFactory } from './flow.module-definition';
import { FlowModuleOptions } from './flow.options';
import { FlowServer } from './flow.server';
import { RequestHandler } from './stream-handler.decorator';

const quiet = { logger: false as const };

async function bootstrapError(options: FlowModuleOptions): Promise<Error> {
  const failure = await Test.createTestingModule({ imports: [FlowModule.forRoot(options)] })
    .compile()
    .then(
      () => undefined,
      (error: unknown) => error,
    );
  expect(failure).toBeInstanceOf(Error);
  return failure as Error;
}

@Injectable()
class SettingsService {
  readonly clique = 'from-settings';
}

@Module({ providers: [SettingsService], exports: [SettingsService] })
class SettingsModule {}

@Injectable()
class FlowSettings implements FlowOptionsFactory {
  createFlowOptions(): FlowModuleOptions {
    return { clique: 'from-class', nodeName: 'factory-class' };
  }
}

@Injectable()
class NeedsClient {
  constructor(readonly client: FlowClient) {}
}

@Module({ providers: [NeedsClient], exports: [NeedsClient] })
class FeatureModule {}

@Controller()
class PingController {
  @RequestHandler('ping')
  ping(@Payload() value: string): string {
    return `pong ${value}`;
  }
}

describe('FlowModule', () => {
  it.each([
    [{ virtualNodes: 0 }, 'invalid option virtualNodes: must be an integer from 1 to 4096, received 0'],
    [{ servers: 'nats://127.0.0.1:4222', connection: {} as never }, 'invalid option connection: cannot be combined with servers'],
    [{ user: 'app', pass: 'secret' }, 'invalid option user: applies only with servers'],
    [{ servers: 'http://host:80' }, 'invalid option servers: must be a nats:// or tls:// URL'],
    [{ shutdownGracePeriod: -1 }, 'invalid option shutdownGracePeriod: must be an integer from 0'],
    [{ embedded: { bus: {} as never } }, 'invalid option embedded.bus: must be a MemoryBus'],
    [{ serializer: { encode: () => new Uint8Array(0) } as never }, 'invalid option serializer: must be an object with a serialize() method'],
    [{ nodeKey: 'abc' }, 'invalid option nodeKey: must be a Key or 16 hex digits'],
    [{ serverz: 'nats://127.0.0.1' } as never, 'invalid option serverz: is not a Flow module option'],
  ])('fails at bootstrap with a message naming the option: %j', async (options, message) => {
    const error = await bootstrapError(options as FlowModuleOptions);
    expect(error).toMatchObject({ code: 'FLOW_INVALID_OPTION' });
    expect(error.message).toContain(message);
  });

  it('does not show a password or token in the message', async () => {
    const error = await bootstrapError({ token: 's3cret' });
    expect(error.message).toContain('invalid option token');
    expect(error.message).not.toContain('s3cret');
  });

  it('uses the embedded transport without servers or connection, and says so in the log', async () => {
    const log = jest.spyOn(Logger.prototype, 'log');
    const moduleRef = await Test.createTestingModule({ imports: [FlowModule.forRoot({})] }).compile();
    moduleRef.useLogger(false);
    await moduleRef.init();
    try {
      expect(log).toHaveBeenCalledWith(expect.stringContaining('embedded in-memory transport'));
      expect(moduleRef.get(FlowBrokerHost).options.transport).toEqual({ kind: 'embedded', bus: undefined });
    } finally {
      log.mockRestore();
      await moduleRef.close();
    }
  });

  it('builds its options with forRootAsync from a factory with imports and inject', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        FlowModule.forRootAsync({
          imports: [SettingsModule],
          inject: [SettingsService],
          useFactory: (settings: SettingsService) => ({ clique: settings.clique, nodeName: 'factory' }),
        }),
      ],
    }).compile();
    expect(moduleRef.get(FlowBrokerHost).options.broker.clique).toBe('from-settings');
    expect(moduleRef.get(FLOW_MODULE_OPTIONS)).toEqual({ clique: 'from-settings', nodeName: 'factory' });
    await moduleRef.close();
  });

  it('builds its options with forRootAsync from a class', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [FlowModule.forRootAsync({ useClass: FlowSettings })] }).compile();
    expect(moduleRef.get(FlowBrokerHost).options.broker.clique).toBe('from-class');
    await moduleRef.close();
  });

  it('makes its providers visible to every module with isGlobal', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [FlowModule.forRoot({ isGlobal: true }), FeatureModule],
    }).compile();
    expect(moduleRef.get(NeedsClient).client).toBe(moduleRef.get(FlowClient));
    await moduleRef.close();
  });

  it('keeps the providers of a non-global module to its importers', async () => {
    const failure = await Test.createTestingModule({ imports: [FlowModule.forRoot({}), FeatureModule] })
      .compile()
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(String(failure)).toContain('FlowClient');
  });

  it('gives each app its own broker: nothing is shared between two apps in one process', async () => {
    const [a, b] = await Promise.all(
      [1, 2].map(() => Test.createTestingModule({ imports: [FlowModule.forRoot({})] }).compile()),
    );
    const [brokerA, brokerB] = await Promise.all([a, b].map((ref) => ref.get(FlowBrokerHost).start()));
    expect(brokerA).not.toBe(brokerB);
    expect(brokerA.nodeKey.equals(brokerB.nodeKey)).toBe(false);
    await Promise.all([a.close(), b.close()]);
  });

  it('serves as the strategy of NestFactory.createMicroservice through an async microservice config', async () => {
    const bus = new MemoryBus();
    @Module({ imports: [FlowModule.forRoot({ embedded: { bus }, stabilization: { interval: 0 } })], controllers: [PingController] })
    class PingModule {}

    const microservice = await NestFactory.createMicroservice<AsyncMicroserviceOptions>(PingModule, {
      inject: [FlowServer],
      useFactory: (strategy: FlowServer) => ({ strategy }),
      ...quiet,
    });
    await microservice.listen();
    try {
      await expect(microservice.get(FlowClient).request('ping', 'one')).resolves.toBe('pong one');
      expect(microservice.unwrap()).toBe(microservice.get(FlowBrokerHost).broker);
    } finally {
      await microservice.close();
    }
  });
});
