/**
 * Nest apps with FlowModule over a real nats-server, several in one test
 * process, each with its own broker and NATS connection (as separate
 * processes would have). A handler app runs FlowServer as its microservice
 * strategy; a publisher app only initialises its module and uses FlowClient.
 */
import { INestMicroservice, Provider, Type } from '@nestjs/common';
import { Test, TestingModule } from '@nestjs/testing';
import { FlowClient, FlowHealthIndicator, FlowModule, FlowModuleOptions, FlowServer } from 'nestjs-flow';
import { Broker } from 'nestjs-flow/core';
import { FlowBrokerHost } from '../../../libs/flow/src/nest/broker-host';

/** Injection token of the app's name, so that a handler can say which app ran it. */
export const APP_NAME = Symbol('APP_NAME');

/** The options every app of the e2e specs starts with (before its own). */
export const E2E_FLOW_OPTIONS = Object.freeze({ virtualNodes: 16, ackTimeout: 200 } satisfies FlowModuleOptions);

export interface FlowAppOptions {
  readonly servers: string;
  readonly name: string;
  /** With controllers the app serves them through FlowServer; without, it is a publisher. */
  readonly controllers?: Type<unknown>[];
  readonly providers?: Provider[];
  /** Merged over E2E_FLOW_OPTIONS, `servers` and `nodeName`. */
  readonly flow?: FlowModuleOptions;
  /** Runs before the microservice listens: global pipes, filters, ... */
  readonly configure?: (app: INestMicroservice) => void;
}

export interface FlowApp {
  readonly name: string;
  readonly client: FlowClient;
  readonly server: FlowServer;
  readonly broker: Broker;
  readonly health: FlowHealthIndicator;
  /** The app's ring positions (node keys as 16 hex digits); empty for a publisher. */
  readonly positions: ReadonlySet<string>;
  /** Closes the app as Nest does on shutdown: FlowServer.close and the module's destroy hooks. Idempotent. */
  close(): Promise<void>;
}

export async function startFlowApp(options: FlowAppOptions): Promise<FlowApp> {
  const moduleRef = await Test.createTestingModule({
    imports: [FlowModule.forRoot({ ...E2E_FLOW_OPTIONS, servers: options.servers, nodeName: options.name, ...options.flow })],
    controllers: options.controllers ?? [],
    providers: [{ provide: APP_NAME, useValue: options.name }, ...(options.providers ?? [])],
  }).compile({});
  const closable = options.controllers === undefined ? await initPublisher(moduleRef) : await listen(moduleRef, options);
  const broker = await moduleRef.get(FlowBrokerHost).start();
  let closing: Promise<void> | undefined;
  return {
    name: options.name,
    client: moduleRef.get(FlowClient),
    server: moduleRef.get(FlowServer),
    broker,
    health: moduleRef.get(FlowHealthIndicator),
    positions: new Set(broker.snapshot().positions.map((key) => key.toString())),
    close: () => (closing ??= closable.close()),
  };
}

async function listen(moduleRef: TestingModule, options: FlowAppOptions): Promise<INestMicroservice> {
  const app = moduleRef.createNestMicroservice({ strategy: moduleRef.get(FlowServer), logger: false });
  options.configure?.(app);
  await app.listen();
  return app;
}

async function initPublisher(moduleRef: TestingModule): Promise<TestingModule> {
  moduleRef.useLogger(false);
  await moduleRef.init();
  return moduleRef;
}

/** The app that holds ring position `owner`; throws when none does. */
export function appAt(apps: readonly FlowApp[], owner: string): FlowApp {
  const app = apps.find((candidate) => candidate.positions.has(owner));
  if (app === undefined) throw new Error(`no app holds ring position ${owner}`);
  return app;
}

/** Partition keys `${prefix}-0`, `${prefix}-1`, ... that `app` owns in its own view of the ring, `count` of them. */
export function keysOwnedBy(app: FlowApp, prefix: string, count: number, limit = 10_000): string[] {
  const keys: string[] = [];
  for (let i = 0; i < limit && keys.length < count; i++) {
    const key = `${prefix}-${i}`;
    if (app.positions.has(app.broker.ownerOf(key)?.toString() ?? '')) keys.push(key);
  }
  if (keys.length < count) throw new Error(`only ${keys.length} of ${count} keys "${prefix}-*" belong to ${app.name}`);
  return keys;
}

export async function closeApps(apps: readonly (FlowApp | undefined)[]): Promise<void> {
  await Promise.all(apps.map((app) => app?.close()));
}
