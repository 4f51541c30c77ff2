// The public entry of Flow. Every export is named; anything not listed is internal.
// Broker-level handler types are renamed here because `RequestHandler` is the Nest decorator.

// core: the framework-free broker
export { Broker } from './core';
export type {
  BrokerCounters,
  BrokerEvents,
  Delivery,
  MessageHandler as BrokerMessageHandler,
  PublishOptions,
  RequestHandler as BrokerRequestHandler,
  RequestOptions,
  RingSnapshot,
} from './core';
export { DEFAULTS, LIMITS, resolveBrokerOptions } from './core';
export type { BrokerOptions, ResolvedBrokerOptions } from './core';
export { systemClock } from './core';
export type { Clock } from './core';
export { DefaultCodec } from './core';
export type { Codec, StreamMessage } from './core';
export {
  AbortedError,
  ClosedError,
  CodecError,
  ErrorCode,
  FlowError,
  InvalidOptionError,
  OverloadedError,
  ProtocolError,
  RemoteError,
  TimeoutError,
  TransportError,
} from './core';
export type { FlowErrorOptions } from './core';
export { Key, KEY_SIZE, keyFromBytes, keyFromString, parseKey, randomKey } from './core';
export { MemoryBus, MemoryPubSub } from './core';
export type { BusDelivery, FaultDecision, FaultHook } from './core';
export type { PubSub, PubSubHandler, PubSubStatus, StatusListener, SubscribeOptions, Subscription } from './core';

// nats: the NATS adapter
export { connectNats, NatsPubSub, NATS_DEFAULTS, resolveNatsOptions, resolveNatsPubSubOptions } from './nats';
export type {
  NatsConnectionLike,
  NatsErrorHandler,
  NatsOptions,
  NatsPubSubOptions,
  NatsReconnectOptions,
  NatsTlsOptions,
  ResolvedNatsOptions,
  ResolvedNatsPubSubOptions,
} from './nats';

// nest: the Nest integration
export {
  FLOW_EXTRAS_KEY,
  FLOW_MODULE_DEFAULTS,
  FLOW_MODULE_OPTIONS,
  FLOW_TRANSPORT,
  FlowBrokerHost,
  FlowClient,
  FlowContext,
  FlowExceptionFilter,
  FlowHandlerError,
  FlowHandlerErrorCode,
  FlowHealthIndicator,
  FlowModule,
  FlowRecord,
  FlowRecordBuilder,
  FlowServer,
  FlowStatus,
  JsonFlowDeserializer,
  JsonFlowSerializer,
  RequestHandler,
  resolveFlowModuleOptions,
  StreamHandler,
  StreamKind,
} from './nest';
export type {
  FlowDeserializer,
  FlowEmbeddedOptions,
  FlowHandlerExtras,
  FlowHealthDetails,
  FlowModuleAsyncOptions,
  FlowModuleExtras,
  FlowModuleOptions,
  FlowOptionsFactory,
  FlowPublishOptions,
  FlowRecordOptions,
  FlowRequestOptions,
  FlowSerializer,
  FlowServerEvents,
  FlowTransportOptions,
  ResolvedFlowModuleOptions,
  StreamHandlerOptions,
} from './nest';
