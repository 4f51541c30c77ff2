import { Injectable } from '@nestjs/common';
import { CustomTransportStrategy, MessageHandler, Server } from '@nestjs/microservices';
import { isObservable, lastValueFrom, Subscription } from 'rxjs';
import { Broker, BrokerEvents, Delivery } from '../core';
import { FlowBrokerHost, FlowStatus } from './broker-host';
import { FLOW_EXTRAS_KEY, FLOW_TRANSPORT, FlowHandlerExtras, StreamKind } from './flow.constants';
import { FlowContext } from './flow.context';
import type { FlowPartitionEvents } from './partition-events';
import { FlowPartitionHooks } from './partition-hooks';
import { FlowHandlerError, toFlowHandlerError } from './flow-handler.error';

/** Events of FlowServer.on: the broker's membership, status and error events, and partitionsAcquired/partitionsReleased (partition-hooks.ts). */
type AllEvents = BrokerEvents & FlowPartitionEvents;
export type FlowServerEvents = { [E in keyof AllEvents]: AllEvents[E] };

/**
 * The Nest transport strategy of Flow. Attach it with
 * `app.connectMicroservice({ strategy: app.get(FlowServer) }, { inheritAppConfig: true })`,
 * or `NestFactory.createMicroservice(AppModule, { inject: [FlowServer], useFactory: (strategy) => ({ strategy }) })`.
 *
 * `listen()` registers every pattern handler Nest bound to it (those declared
 * with `@StreamHandler`/`@RequestHandler`, plus transport-less
 * `@EventPattern`/`@MessagePattern` string patterns, as every Nest transport
 * does) with the app's broker, which then joins the ring. Each handler run is
 * awaited to completion, so a partition key's next message waits for it, a
 * forwarded message is acknowledged after it, and its failure is reported.
 *
 * Failures: a request gets an error reply (see FlowHandlerError); a message's
 * failure goes to the module's `onError` (default: the Logger) and is counted
 * in the broker's `failed` counter, and processing continues.
 */
@Injectable()
export class FlowServer extends Server<FlowServerEvents, FlowStatus> implements CustomTransportStrategy {
  override transportId = FLOW_TRANSPORT;
  readonly #statusSubscription: Subscription;
  #listening: Promise<void> | undefined;
  /** Nest's default start hook (it calls `done()`), captured before another can be set; while it is in place, #process runs handlers directly. */
  readonly #defaultStartHook = this.onProcessingStartHook;

  constructor(
    private readonly host: FlowBrokerHost,
    private readonly hooks: FlowPartitionHooks,
  ) {
    super();
    this.#statusSubscription = host.status.subscribe((status) => this._status$.next(status));
  }

  /** Starts the broker if needed and registers the handlers; `callback(error)` reports failure. */
  listen(callback: (error?: unknown) => void): void {
    // Nest calls listen once per microservice start; a second FlowServer start must not register twice.
    this.#listening ??= this.#register();
    this.#listening.then(
      () => callback(),
      (error: unknown) => callback(error),
    );
  }

  /** Shuts the app's broker down (leave, drain in-flight handlers, close the transport). Idempotent. */
  async close(): Promise<void> {
    await this.host.shutdown();
    this.#statusSubscription.unsubscribe();
  }

  /** Subscribes to broker events ('joined', 'left', 'suspected', 'status', 'error', 'partitionsAcquired', 'partitionsReleased'); returns the unsubscribe function. */
  on<E extends keyof FlowServerEvents = keyof FlowServerEvents, C extends FlowServerEvents[E] = FlowServerEvents[E]>(
    event: E,
    callback: C,
  ): () => void {
    return this.host.on(event, callback);
  }

  /** The app's Broker. Throws before the broker has started (listen() or app init). */
  unwrap<T = Broker>(): T {
    return this.host.unwrap('FlowServer', 'call listen() or init the app first') as T;
  }

  async #register(): Promise<void> {
    this.hooks.attach();
    const broker = await this.host.start();
    const registrations: Promise<void>[] = [];
    for (const [stream, handler] of this.messageHandlers) {
      const extras = extrasOf(handler);
      if (extras.kind === StreamKind.Request) {
        registrations.push(broker.handleRequest(stream, (delivery) => this.#reply(handler, extras, delivery)));
        continue;
      }
      // Made once per stream, not per message.
      const failed = (failure: unknown): never => {
        const error = toFlowHandlerError(failure);
        throw new FlowHandlerError(error.code, `handler of stream "${stream}" failed: ${error.message}`, {
          details: error.details,
          cause: error.cause,
        });
      };
      const outcome: EventOutcome = {
        finished: (result) => (isObservable(result) ? lastValueFrom(result, { defaultValue: undefined }).then(ignore, failed) : undefined),
        failed,
      };
      registrations.push(broker.handle(stream, (delivery) => this.#invoke(handler, extras, delivery, outcome) as Promise<void>));
    }
    await Promise.all(registrations);
    this.host.handlersRegistered();
  }

  async #reply(handler: MessageHandler, extras: FlowHandlerExtras, delivery: Delivery): Promise<Uint8Array> {
    try {
      const result = await this.#invoke(handler, extras, delivery);
      return this.host.options.serializer.serialize(result);
    } catch (failure) {
      throw toFlowHandlerError(failure);
    }
  }

  /**
   * Runs the Nest handler (guards, interceptors, pipes, filters) and waits for
   * its last value; with an event's `outcome`, resolves to nothing and rejects
   * with the failure as `outcome.failed` maps it. A synchronous deserializer is
   * not awaited (no extra turn per message); a failing one rejects the
   * returned promise.
   */
  #invoke(handler: MessageHandler, extras: FlowHandlerExtras, delivery: Delivery, outcome?: EventOutcome): Promise<unknown> {
    const context = new FlowContext([delivery]);
    let payload: unknown;
    try {
      payload = extras.raw ? delivery.data : this.host.options.deserializer.deserialize(delivery.data, { stream: delivery.stream });
    } catch (error) {
      return ended(Promise.reject(error), outcome);
    }
    if (isPromise(payload)) return ended(Promise.resolve(payload).then((value) => this.#process(context, handler, value)), outcome);
    return this.#process(context, handler, payload, outcome);
  }

  /**
   * Runs the handler inside Nest's processing hooks (instrumentation). A start
   * hook need not return `done()`'s promise, so completion is taken from the
   * handler's run itself. Without hooks (Nest's default start hook, no end
   * hook) the handler runs directly: the same order, without the wrapping.
   */
  #process(context: FlowContext, handler: MessageHandler, payload: unknown, outcome?: EventOutcome): Promise<unknown> {
    if (this.onProcessingStartHook === this.#defaultStartHook && this.onProcessingEndHook === undefined) {
      return runHandler(handler, payload, context, outcome);
    }
    const transportId = this.transportId;
    const run = new Promise<unknown>((resolve, reject) => {
      const done = () => {
        const running = runHandler(handler, payload, context);
        running.then(resolve, reject);
        return running;
      };
      try {
        const returned: unknown = this.onProcessingStartHook(transportId, context, done);
        // The hook's own promise may reject with the handler's error, which is reported here instead.
        if (returned instanceof Promise) returned.catch(() => undefined);
      } catch (error) {
        reject(error);
      }
    });
    const end = this.onProcessingEndHook;
    return ended(end === undefined ? run : run.finally(() => end(transportId, context)), outcome);
  }
}

/**
 * How an event handler's run ends, made once per stream: `finished` takes the
 * handler's result (an Observable is run to its end), `failed` maps a failure
 * to what the broker reports. Both sit on the handler's own promise: one
 * reaction per event.
 */
interface EventOutcome {
  readonly finished: (result: unknown) => unknown;
  readonly failed: (failure: unknown) => never;
}

/**
 * Calls a Nest handler and resolves to its result: the last value when it is
 * an Observable (interceptors return one), else the value itself. The same
 * as Nest's `lastValueFrom(transformToObservable(await handler(...)))`,
 * without an Observable per message.
 */
function runHandler(handler: MessageHandler, payload: unknown, context: FlowContext, outcome?: EventOutcome): Promise<unknown> {
  let result: unknown;
  try {
    result = handler(payload, context);
  } catch (error) {
    return ended(Promise.reject(error), outcome);
  }
  // One reaction, not an async function's frame and its await, per message.
  return outcome === undefined ? Promise.resolve(result).then(lastValue) : Promise.resolve(result).then(outcome.finished, outcome.failed);
}

/** `run` as an event's `outcome` ends it: nothing, or the mapped failure; `run` itself without one. */
function ended(run: Promise<unknown>, outcome: EventOutcome | undefined): Promise<unknown> {
  return outcome === undefined ? run : run.then(ignore, outcome.failed);
}

/** A handler's result: an Observable's last value, anything else as it is. */
function lastValue(result: unknown): unknown {
  return isObservable(result) ? lastValueFrom(result, { defaultValue: undefined }) : result;
}

function ignore(): void {}

function isPromise(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === 'function';
}

/** A handler's Flow settings; transport-less patterns take their kind from the decorator Nest saw. */
function extrasOf(handler: MessageHandler): FlowHandlerExtras {
  const extras = handler.extras?.[FLOW_EXTRAS_KEY] as FlowHandlerExtras | undefined;
  return extras ?? { kind: handler.isEventHandler ? StreamKind.Message : StreamKind.Request, raw: false };
}
