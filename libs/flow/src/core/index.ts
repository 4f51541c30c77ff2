// The public surface of Flow's framework-free core (`nestjs-flow/core`): the
// broker, its PubSub port and in-memory transport, keys, codecs and errors.
// Every export is named; anything not listed here is internal.
export { Broker } from './broker';
export type {
  BrokerCounters,
  BrokerEvents,
  Delivery,
  MessageHandler,
  PublishOptions,
  RequestHandler,
  RequestOptions,
  RingSnapshot,
} from './broker';
export type { KeyRange, OwnershipChange, OwnershipEvents, OwnershipView } from './ownership';
export type { BrokerInstrumentation, BrokerLoad, HandlerTrace, RequestTrace } from './instrumentation';
export { DEFAULTS } from './options';
export type { BrokerOptions } from './options';
export { systemClock } from './clock';
export type { Clock } from './clock';
export { DefaultCodec } from './codec';
export type { Codec, StreamMessage } from './codec';
export {
  AbortedError,
  ClosedError,
  CodecError,
  ErrorCode,
  FlowError,
  IncompatibleMemberError,
  InvalidOptionError,
  NodeConflictError,
  OverloadedError,
  ProtocolError,
  RemoteError,
  TimeoutError,
  TransportError,
} from './errors';
export type { FlowErrorOptions } from './errors';
export { Key, KEY_SIZE, keyFromBytes, keyFromString, parseKey, randomKey } from './key';
export type { PartitionHash } from './key';
export { MemoryBus, MemoryPubSub } from './memory-pubsub';
export type { BusDelivery, FaultDecision, FaultHook, MemoryBusOptions } from './memory-pubsub';
export type { MessageHeaders, PubSub, PubSubHandler, PubSubStatus, StatusListener, SubscribeOptions, Subscription } from './pubsub';
