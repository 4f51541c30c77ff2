import { Injectable, OnModuleInit, SetMetadata } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import type { OwnershipChange } from '../core';
import { asFlowError } from '../core/error-reply';
import { ErrorCode } from '../core/errors';
import { FlowBrokerHost } from './broker-host';

const ACQUIRED_HOOK = 'flow:partitions-acquired';
const RELEASED_HOOK = 'flow:partitions-released';

/** Marks a provider or controller method to run with `{ ranges, epoch }` when this broker acquires key ranges. */
export const OnPartitionsAcquired = (): MethodDecorator => SetMetadata(ACQUIRED_HOOK, true);

/**
 * Marks a provider or controller method to run with `{ ranges, epoch }` when
 * this broker releases key ranges; on a graceful shutdown its returned promise
 * is awaited before the broker closes, so per-key state can be flushed.
 */
export const OnPartitionsReleased = (): MethodDecorator => SetMetadata(RELEASED_HOOK, true);

/** Finds the decorated methods of the app's singletons once and subscribes them to the broker's events (static, singleton providers and controllers). */
@Injectable()
export class FlowPartitionHooks implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly host: FlowBrokerHost,
  ) {}

  #attached = false;

  onModuleInit(): void {
    this.attach();
  }

  /** Subscribes the hooks once; FlowServer calls it before its broker joins, so the first acquisition is seen. */
  attach(): void {
    if (this.#attached) return;
    this.#attached = true;
    const acquired: ((change: OwnershipChange) => unknown)[] = [];
    const released: ((change: OwnershipChange) => unknown)[] = [];
    for (const wrapper of [...this.discovery.getProviders(), ...this.discovery.getControllers()]) {
      const instance: unknown = wrapper.instance;
      if (!wrapper.isDependencyTreeStatic() || typeof instance !== 'object' || instance === null) continue;
      const prototype = Object.getPrototypeOf(instance) as object | null;
      for (const name of this.scanner.getAllMethodNames(prototype)) {
        const method = (instance as Record<string, unknown>)[name];
        if (typeof method !== 'function') continue;
        const bound = (change: OwnershipChange): unknown => method.call(instance, change);
        if (this.reflector.get(ACQUIRED_HOOK, method) === true) acquired.push(bound);
        if (this.reflector.get(RELEASED_HOOK, method) === true) released.push(bound);
      }
    }
    const run = (hooks: typeof acquired, change: OwnershipChange, what: string): Promise<void> =>
      Promise.all(hooks.map((hook) => hook(change))).then(
        () => undefined,
        (error: unknown) => this.host.reportError(asFlowError(error, `${what} hook`, ErrorCode.Handler)),
      );
    if (acquired.length > 0) this.host.on('acquired', (change) => void run(acquired, change, 'partitionsAcquired'));
    // The broker awaits the returned promise on a graceful shutdown (Emitter.emitAndWait).
    if (released.length > 0) this.host.on('released', (change) => run(released, change, 'partitionsReleased') as unknown as void);
  }
}
