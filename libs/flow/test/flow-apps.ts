/**
 * Test support for the nest/ specs (not part of the library): Nest apps over
 * one MemoryBus, each a hybrid app with FlowServer attached the documented
 * way, and a recorder that lets a spec await handler runs instead of sleeping.
 */
import { INestApplication, ModuleMetadata, Provider, Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Broker, MemoryBus } from '../src/core';
import { FlowBrokerHost } from '../src/nest/broker-host';
import { FlowClient } from '../src/nest/flow.client';
import { FlowModule } from '../src/nest/flow.module';
import { FlowModuleOptions } from '../src/nest/flow.options';
import { FlowServer } from '../src/nest/flow.server';

export const APP_NAME = Symbol('APP_NAME');
export const RECORDER = Symbol('RECORDER');

/** Bounds every wait of a spec: a broken handler fails the test instead of hanging it. */
export const WAIT_MS = 5_000;

/** Collects what handlers saw; `until(n)` resolves once n entries arrived. */
export class Recorder<T> {
  readonly entries: T[] = [];
  readonly #waiters: { count: number; resolve: () => void }[] = [];

  push(entry: T): void {
    this.entries.push(entry);
    for (const waiter of [...this.#waiters]) {
      if (this.entries.length >= waiter.count) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }

  until(count: number): Promise<T[]> {
    if (this.entries.length >= count) return Promise.resolve(this.entries);
    return new Promise<T[]>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`recorder: ${this.entries.length} of ${count} entries after ${WAIT_MS} ms`)),
        WAIT_MS,
      );
      this.#waiters.push({
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve(this.entries);
        },
      });
    });
  }
}

export { Gate } from './gate';

export interface FlowTestApp {
  readonly name: string;
  readonly app: INestApplication;
  readonly host: FlowBrokerHost;
  readonly server: FlowServer;
  readonly client: FlowClient;
  readonly broker: Broker;
}

export interface FlowTestAppOptions {
  readonly name: string;
  readonly bus: MemoryBus;
  readonly controllers?: Type<unknown>[];
  readonly providers?: Provider[];
  readonly imports?: ModuleMetadata['imports'];
  readonly flow?: FlowModuleOptions;
  /** Runs before the microservice starts: global pipes, filters, ... */
  readonly configure?: (app: INestApplication) => void;
}

/**
 * Boots a hybrid app: FlowModule over the shared bus, FlowServer attached with
 * `connectMicroservice(..., { inheritAppConfig: true })` when there are
 * controllers, then `startAllMicroservices()` and `init()` in the usual order.
 * Without controllers it is a publisher-only app.
 */
export async function startFlowApp(options: FlowTestAppOptions): Promise<FlowTestApp> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      FlowModule.forRoot({
        embedded: { bus: options.bus },
        nodeName: options.name,
        virtualNodes: 8,
        stabilization: { interval: 0 },
        ...options.flow,
      }),
      ...(options.imports ?? []),
    ],
    controllers: options.controllers ?? [],
    providers: [{ provide: APP_NAME, useValue: options.name }, ...(options.providers ?? [])],
  }).compile();
  const app = moduleRef.createNestApplication(noHttpAdapter(), { logger: false });
  options.configure?.(app);
  if (options.controllers !== undefined) {
    app.connectMicroservice({ strategy: app.get(FlowServer) }, { inheritAppConfig: true });
    await app.startAllMicroservices();
  }
  await app.init();
  const host = app.get(FlowBrokerHost);
  return {
    name: options.name,
    app,
    host,
    server: app.get(FlowServer),
    client: app.get(FlowClient),
    broker: await host.start(),
  };
}

/** Starts the apps one after another (deterministic ring order) and waits until the bus is quiet. */
export async function startFlowApps(bus: MemoryBus, options: Omit<FlowTestAppOptions, 'bus' | 'name'>, names: string[]) {
  const apps: FlowTestApp[] = [];
  for (const name of names) apps.push(await startFlowApp({ ...options, bus, name }));
  await bus.idle();
  return apps;
}

export async function closeAll(apps: readonly FlowTestApp[]): Promise<void> {
  await Promise.all(apps.map((entry) => entry.app.close()));
}

/**
 * The specs serve no HTTP: this adapter accepts every call Nest makes on an
 * HTTP adapter and does nothing, so a hybrid app boots without an HTTP platform.
 */
function noHttpAdapter(): never {
  const noop = () => undefined;
  const adapter = new Proxy(
    {},
    {
      get: (_target, property) => (property === 'then' ? undefined : property === 'getType' ? () => 'none' : noop),
    },
  );
  return adapter as never;
}
