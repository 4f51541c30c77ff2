// The public surface of Flow's framework-free core. Every export is named;
// anything not listed here is internal.
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
export { DEFAULTS, LIMITS, resolveBrokerOptions } from './options';
export type { BrokerOptions, ResolvedBrokerOptions } from './options';
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
  InvalidOptionError,
  OverloadedError,
  ProtocolError,
  RemoteError,
  TimeoutError,
  TransportError,
} from './errors';
export type { FlowErrorOptions } from './errors';
export { decodeFrame, encodeFrame, FRAME_HEADER_SIZE, FRAME_VERSION, FrameType } from './frame';
export type { Frame, MsgPayload } from './frame';
export { Key, KEY_SIZE, keyFromBytes, keyFromString, parseKey, randomKey } from './key';
export { MemoryBus, MemoryPubSub } from './memory-pubsub';
export type { Delivery as BusDelivery, FaultDecision, FaultHook } from './memory-pubsub';
export type { MessageHandler as PubSubHandler, PubSub, PubSubStatus, StatusListener, SubscribeOptions, Subscription } from './pubsub';
export { Ring } from './ring';
export { RoutingTable } from './routing-table';
export { ringPositions } from './virtual-nodes';
