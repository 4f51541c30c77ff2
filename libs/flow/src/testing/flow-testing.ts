import { DynamicModule, ForwardReference, INestMicroservice, ModuleMetadata, Provider, Type } from '@nestjs/common';
import type { Broker } from '../core/broker';
import { ErrorCode, FlowError, InvalidOptionError } from '../core/errors';
import { MemoryBus } from '../core/memory-pubsub';
import { integerOption } from '../core/options';
import { FLOW_MODULE_OPTIONS } from '../nest/flow.constants';
import { FlowClient } from '../nest/flow.client';
import { FlowModule } from '../nest/flow.module';
import type { FlowModuleOptions } from '../nest/flow.options';
import { FlowServer } from '../nest/flow.server';

/** Large enough for any test, small enough that a typo cannot exhaust memory. */
const MAX_INSTANCES = 32;

export interface FlowTestingOptions {
  /**
   * Your modules. When one of them imports FlowModule (your AppModule, with
   * NATS servers in its options), its options are replaced by `flow` plus
   * the shared bus and the instance's node name; otherwise FlowModule is
   * added with those options.
   */
  readonly imports?: ModuleMetadata['imports'];
  readonly controllers?: Type<unknown>[];
  readonly providers?: Provider[];
  /**
   * Flow options of every instance (`servers` and `connection` are dropped:
   * the instances share one in-memory bus). Default: 8 virtual nodes and
   * stabilization off, which keeps rings small and tests deterministic.
   */
  readonly flow?: FlowModuleOptions;
  /** How many instances (named `app-1`, `app-2`, ...) or their node names. Default 3. */
  readonly instances?: number | readonly string[];
  /** Runs on each instance before it listens: global pipes, filters, guards, interceptors. */
  readonly configure?: (app: INestMicroservice, name: string) => void;
  /** The bus to share; default a new one. */
  readonly bus?: MemoryBus;
}

/** One instance of your app: a Nest microservice served by its own FlowServer. */
export interface FlowTestingApp {
  readonly name: string;
  readonly app: INestMicroservice;
  readonly server: FlowServer;
  readonly client: FlowClient;
  readonly broker: Broker;
}

/** Instances of one app on one in-memory bus: a clique in a single test process. */
export interface FlowTestingClique {
  readonly bus: MemoryBus;
  readonly apps: readonly FlowTestingApp[];
  /** The instance that owns `partitionKey` (in the first instance's view of the ring). */
  ownerOf(partitionKey: string | Uint8Array): FlowTestingApp;
  /** Resolves once every message sent so far has been delivered and handled. */
  idle(): Promise<void>;
  /** Closes every instance (each leaves the ring), then drains the bus. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts several instances of a Nest app on one in-memory bus, the way
 * Flow runs them in production (each its own broker, ring positions and
 * FlowServer), so a test can publish with any instance's FlowClient and
 * assert on which instance handled a key:
 *
 * ```ts
 * const clique = await startFlowTestingApps({ imports: [AppModule], instances: 3 });
 * await clique.apps[0].client.publish('orders', order, { key: order.customerId });
 * await clique.idle();
 * expect(clique.ownerOf(order.customerId).app.get(OrderStore).count()).toBe(1);
 * await clique.close();
 * ```
 */
export async function startFlowTestingApps(options: FlowTestingOptions = {}): Promise<FlowTestingClique> {
  const names = instanceNames(options.instances ?? 3);
  const bus = options.bus ?? new MemoryBus();
  const addFlowModule = !importsFlowModule(options.imports ?? []);
  const apps: FlowTestingApp[] = [];
  try {
    for (const name of names) apps.push(await startInstance(options, bus, name, addFlowModule));
  } catch (error) {
    await Promise.allSettled(apps.map((entry) => entry.app.close()));
    throw error;
  }
  await bus.idle();
  let closing: Promise<void> | undefined;
  return {
    bus,
    apps,
    ownerOf(partitionKey) {
      const position = apps[0].broker.ownerOf(partitionKey);
      const owns = (entry: FlowTestingApp) => entry.broker.snapshot().positions.some((own) => position?.equals(own));
      const owner = apps.find(owns);
      if (owner === undefined) throw new InvalidOptionError('partitionKey', 'has no owner among the instances', partitionKey);
      return owner;
    },
    idle: () => bus.idle(),
    close() {
      closing ??= (async () => {
        await Promise.allSettled(apps.map((entry) => entry.app.close()));
        await bus.idle();
      })();
      return closing;
    },
  };
}

async function startInstance(
  options: FlowTestingOptions,
  bus: MemoryBus,
  name: string,
  addFlowModule: boolean,
): Promise<FlowTestingApp> {
  const { servers: _servers, connection: _connection, ...given } = options.flow ?? {};
  const flow: FlowModuleOptions = {
    virtualNodes: 8,
    stabilization: { interval: 0 },
    ...given,
    embedded: { bus },
    nodeName: name,
  };
  const moduleRef = await (await nestTesting()).Test.createTestingModule({
    imports: [...(options.imports ?? []), ...(addFlowModule ? [FlowModule.forRoot(flow)] : [])],
    controllers: options.controllers ?? [],
    providers: options.providers ?? [],
  })
    .overrideProvider(FLOW_MODULE_OPTIONS)
    .useValue(flow)
    .compile();
  const server = moduleRef.get(FlowServer, { strict: false });
  const app = moduleRef.createNestMicroservice({ strategy: server, logger: false });
  options.configure?.(app, name);
  await app.listen();
  return { name, app, server, client: moduleRef.get(FlowClient, { strict: false }), broker: server.unwrap() };
}

/**
 * `@nestjs/testing` is an optional peer: loaded on first use, so the rest of
 * `nestjs-flow/testing` works without it.
 */
async function nestTesting(): Promise<typeof import('@nestjs/testing')> {
  try {
    return await import('@nestjs/testing');
  } catch (error) {
    throw new FlowError(
      ErrorCode.InvalidOption,
      'startFlowTestingApps needs @nestjs/testing: install it (npm install -D @nestjs/testing)',
      { cause: error },
    );
  }
}

function instanceNames(instances: number | readonly string[]): readonly string[] {
  if (typeof instances !== 'number') {
    if (!Array.isArray(instances) || instances.length === 0 || instances.some((n) => typeof n !== 'string' || n === '')) {
      throw new InvalidOptionError('instances', 'must be a count or a non-empty list of node names', instances);
    }
    return instances;
  }
  const count = integerOption('instances', instances, 3, 1, MAX_INSTANCES);
  return Array.from({ length: count }, (_, i) => `app-${i + 1}`);
}

type ModuleImport = NonNullable<ModuleMetadata['imports']>[number];

/** True when FlowModule is among `imports` or the modules they import (async imports are not looked into). */
function importsFlowModule(imports: readonly ModuleImport[], seen = new Set<unknown>()): boolean {
  for (const entry of imports) {
    const resolved = isForwardReference(entry) ? entry.forwardRef() : entry;
    if (resolved === undefined || resolved === null || resolved instanceof Promise) continue;
    const dynamic = typeof resolved === 'object' ? (resolved as DynamicModule) : undefined;
    const type = dynamic?.module ?? (resolved as Type<unknown>);
    if (type === FlowModule) return true;
    if (seen.has(resolved)) continue;
    seen.add(resolved);
    const nested: ModuleImport[] = [...(Reflect.getMetadata('imports', type) ?? []), ...(dynamic?.imports ?? [])];
    if (importsFlowModule(nested, seen)) return true;
  }
  return false;
}

function isForwardReference(entry: unknown): entry is ForwardReference {
  return typeof entry === 'object' && entry !== null && 'forwardRef' in entry;
}
