import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { BehaviorSubject, Observable, distinctUntilChanged } from 'rxjs';
import {
  Broker,
  BrokerEvents,
  ClosedError,
  ErrorCode,
  FlowError,
  MemoryBus,
  PubSub,
  PubSubStatus,
  TransportError,
} from '../core';
import { NatsErrorHandler, NatsPubSub, connectNats } from '../nats';
import { BrokerLog } from './broker-log';
import { brokerEventOf, FlowEventName, FlowPartitionEvents } from './partition-events';
import { createTelemetry, Telemetry } from '../telemetry/flow-instrumentation';
import { FLOW_MODULE_OPTIONS } from './flow.constants';
import { FlowModuleOptions, ResolvedFlowModuleOptions, resolveFlowModuleOptions } from './flow.options';

/** Connection state as FlowServer and FlowClient report it through `status`. */
export const FlowStatus = {
  Connected: 'connected',
  Disconnected: 'disconnected',
  Reconnecting: 'reconnecting',
} as const;

export type FlowStatus = (typeof FlowStatus)[keyof typeof FlowStatus];

type Listener = BrokerEvents[keyof BrokerEvents];

/**
 * Owns the app's PubSub and Broker: one per app (per FlowModule.forRoot),
 * shared by FlowServer, FlowClient and FlowHealthIndicator, so an app opens
 * one NATS connection and holds one set of ring positions.
 *
 * Lifecycle: `start()` connects and starts the broker once; it runs at module
 * init, or earlier when FlowServer.listen or a FlowClient call needs it
 * (`startAllMicroservices()` may run before the app's init hooks). `shutdown()`
 * leaves the ring, lets in-flight handlers finish within `shutdownGracePeriod`,
 * then closes the transport (draining NATS); it runs at module destroy and
 * from FlowServer.close, and every call after the first returns the same promise.
 */
@Injectable()
export class FlowBrokerHost implements OnModuleInit, OnModuleDestroy {
  readonly options: ResolvedFlowModuleOptions;
  readonly #log: BrokerLog;
  readonly #nodeName: string | undefined;
  readonly #status$ = new BehaviorSubject<FlowStatus>(FlowStatus.Disconnected);
  /** Listeners added before the broker existed, attached when it starts. */
  readonly #pending = new Set<{ event: keyof BrokerEvents; listener: Listener; remove?: () => void }>();
  #broker: Broker | undefined;
  #pubsub: PubSub | undefined;
  #started: Promise<Broker> | undefined;
  #ready: Broker | undefined;
  #stopped: Promise<void> | undefined;
  /** Metrics and tracing; loads prom-client / @opentelemetry/api only when switched on. */
  readonly telemetry: Telemetry;

  /** Throws InvalidOptionError naming the option: Nest reports it and the app does not boot. */
  constructor(@Inject(FLOW_MODULE_OPTIONS) options: FlowModuleOptions) {
    this.options = resolveFlowModuleOptions(options);
    this.#log = new BrokerLog(this.options.logger);
    this.#nodeName = options?.nodeName;
    this.telemetry = createTelemetry(this.options.telemetry, () => this.#broker);
  }

  async onModuleInit(): Promise<void> {
    await this.start();
  }

  onModuleDestroy(): Promise<void> {
    return this.shutdown();
  }

  /** The broker once created (its start may still be running); undefined before start() or when it failed. */
  get broker(): Broker | undefined {
    return this.#broker;
  }

  /**
   * The broker for `unwrap()` of FlowServer and FlowClient (`caller` names
   * which, `hint` how to start it). Throws FLOW_CLOSED before it exists.
   */
  unwrap(caller: string, hint: string): Broker {
    if (this.#broker === undefined) {
      throw new FlowError(ErrorCode.Closed, `${caller}.unwrap(): the broker is not started; ${hint}`);
    }
    return this.#broker;
  }

  /** The broker once its start() resolved: publishers take this synchronous path per message. */
  get ready(): Broker | undefined {
    return this.#ready;
  }

  /** The app's transport once connected (tests simulate outages on the embedded one). */
  get transport(): PubSub | undefined {
    return this.#pubsub;
  }

  /** True once shutdown() was called. */
  get stopping(): boolean {
    return this.#stopped !== undefined;
  }

  /** Connection state; replays the current value to new subscribers, completes after shutdown. */
  get status(): Observable<FlowStatus> {
    return this.#status$.pipe(distinctUntilChanged());
  }

  get currentStatus(): FlowStatus {
    return this.#status$.value;
  }

  /** Connects and starts the broker; every call returns the same promise. Rejects with ClosedError after shutdown(). */
  start(): Promise<Broker> {
    if (this.#stopped !== undefined) return Promise.reject(new ClosedError('Flow broker host'));
    this.#started ??= this.#start();
    return this.#started;
  }

  shutdown(): Promise<void> {
    this.#stopped ??= this.#shutdown();
    return this.#stopped;
  }

  /**
   * Resolves once everything published so far has reached the transport's
   * server (a NATS round trip; immediate work on the embedded bus). Starts
   * the broker if needed.
   */
  async flush(): Promise<void> {
    await this.start();
    await this.#pubsub!.flush();
  }

  /** FlowServer registered its handlers: the broker is on the ring now. Logs it once. */
  handlersRegistered(): void {
    this.#log.joined();
  }

  /** Subscribes to broker events, also before the broker exists; the returned function unsubscribes. */
  on<E extends FlowEventName>(name: E, listener: (BrokerEvents & FlowPartitionEvents)[E]): () => void {
    const event = brokerEventOf(name);
    if (this.#broker !== undefined) return this.#broker.on(event, listener as never);
    const entry: { event: keyof BrokerEvents; listener: Listener; remove?: () => void } = { event, listener: listener as Listener };
    this.#pending.add(entry);
    return () => {
      this.#pending.delete(entry);
      entry.remove?.();
    };
  }

  /** Where asynchronous errors end up: the `onError` option, else the `logger` (one line each). */
  reportError(error: FlowError): void {
    if (this.options.onError === undefined) {
      this.#log.reportedError(error);
      return;
    }
    try {
      this.options.onError(error);
    } catch (failure) {
      this.#log.error(`onError threw while reporting ${error.code}: ${String(failure)}`);
    }
  }

  async #start(): Promise<Broker> {
    const pubsub = await this.#connect();
    this.#pubsub = pubsub;
    const { instrumentation } = this.telemetry;
    const broker = new Broker(pubsub, { ...this.options.broker, onError: (error) => this.reportError(error), instrumentation });
    broker.on('status', (status) => this.#onTransportStatus(status));
    if (this.#log.enabled) this.#logBrokerEvents(broker);
    for (const entry of this.#pending) entry.remove = broker.on(entry.event, entry.listener as never);
    this.#pending.clear();
    this.#broker = broker;
    try {
      await broker.start();
    } catch (error) {
      this.#broker = undefined;
      await pubsub.close();
      throw error;
    }
    this.#ready = broker;
    this.#status$.next(FlowStatus.Connected);
    this.#log.started(broker, this.#nodeName);
    return broker;
  }

  #logBrokerEvents(broker: Broker): void {
    const log = this.#log;
    broker.on('joined', (key) => log.membership('joined', key));
    broker.on('left', (key) => log.membership('left', key));
    broker.on('suspected', (key) => log.membership('suspected', key));
    broker.on('status', (status) => log.status(status));
    // HOOK(conflict): the broker's `conflict` event (identity or capability clash) is logged when the core emits it.
    (broker.on as (event: string, listener: (detail: unknown) => void) => () => void).call(broker, 'conflict', (detail) =>
      log.conflict(detail),
    );
  }

  async #connect(): Promise<PubSub> {
    const { transport } = this.options;
    const onError: NatsErrorHandler = (error, subject) => this.reportError(asTransportError(error, subject));
    switch (transport.kind) {
      case 'servers': {
        const connect = () => connectNats({ ...transport.nats, onError });
        const pubsub = await connectWithRetry(connect, transport.connect, this.#log, () => this.stopping);
        this.#log.connected(describeServers(transport.nats));
        return pubsub;
      }
      case 'connection':
        this.#log.connected('using the NATS connection given in the options (left open on shutdown)');
        return NatsPubSub.fromConnection(transport.connection, {
          owned: false,
          onError,
          drainTimeoutMs: transport.drainTimeoutMs,
        });
      case 'embedded': {
        this.#log.connected('no NATS servers or connection configured: the embedded in-memory transport (this process only)');
        return (transport.bus ?? new MemoryBus()).connect();
      }
    }
  }

  async #shutdown(): Promise<void> {
    const started = this.#started;
    try {
      if (started === undefined) return;
      const broker = await started.catch(() => undefined);
      if (broker === undefined) return;
      this.#log.shuttingDown(broker.inFlight, this.options.shutdownGracePeriod);
      await broker.shutdown({ timeout: this.options.shutdownGracePeriod }).catch((error: unknown) => {
        const cause = error instanceof FlowError ? error : undefined;
        this.reportError(cause ?? new FlowError(ErrorCode.Closed, `broker shutdown failed: ${String(error)}`, { cause: error }));
      });
      await this.#pubsub?.close();
      this.#log.shutDown();
    } finally {
      this.telemetry.metrics?.unregister();
      this.#status$.next(FlowStatus.Disconnected);
      this.#status$.complete();
    }
  }

  #onTransportStatus(status: PubSubStatus): void {
    if (this.#stopped !== undefined) return;
    this.#status$.next(toFlowStatus(status));
  }
}

/**
 * Connects, trying `attempts` times `intervalMs` apart while the failure is a
 * TransportError (NATS not reachable); an invalid option fails at once.
 */
async function connectWithRetry<T>(
  connect: () => Promise<T>,
  { attempts, intervalMs }: { attempts: number; intervalMs: number },
  log: BrokerLog,
  stopping: () => boolean,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await connect();
    } catch (error) {
      if (attempt >= attempts || stopping() || !(error instanceof TransportError)) throw error;
      log.waitingForTransport(attempt, attempts, intervalMs, error);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}

function describeServers(nats: { servers: string | readonly string[]; name?: string }): string {
  const servers = (typeof nats.servers === 'string' ? nats.servers.split(',') : nats.servers).map(withoutCredentials);
  return `NATS ${servers.join(', ')}${nats.name === undefined ? '' : ` as client "${nats.name}"`}`;
}

/** Hides user:password@ in a server URL. */
function withoutCredentials(server: string): string {
  return server.trim().replace(/^([a-z]+:\/\/)[^@/]*@/i, '$1***@');
}

function toFlowStatus(status: PubSubStatus): FlowStatus {
  switch (status) {
    case 'connected':
    case 'reconnected':
      return FlowStatus.Connected;
    case 'reconnecting':
      return FlowStatus.Reconnecting;
    case 'disconnected':
    case 'closed':
      return FlowStatus.Disconnected;
  }
}

function asTransportError(error: unknown, subject: string | undefined): FlowError {
  if (error instanceof FlowError) return error;
  const where = subject === undefined ? '' : ` on "${subject}"`;
  const reason = error instanceof Error ? error.message : String(error);
  return new TransportError(`NATS error${where}: ${reason}`, { cause: error });
}
