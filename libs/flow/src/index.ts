// The public entry of Flow (`nestjs-flow`): what a Nest app writes against.
// The framework-free broker is `nestjs-flow/core`, the NATS adapter
// `nestjs-flow/nats`, test helpers `nestjs-flow/testing`. Every export is
// named; anything not listed is internal.

// Module, transport, client and handlers
export { FlowModule } from './nest/flow.module';
export type { FlowModuleAsyncOptions, FlowOptionsFactory } from './nest/flow.module-definition';
export type { FlowConnectOptions, FlowKeyOf, FlowMetricsOptions, FlowModuleOptions, FlowTracingOptions } from './nest/flow.options';
export { FLOW_TRANSPORT } from './nest/flow.constants';
export { FlowServer } from './nest/flow.server';
export type { FlowServerEvents } from './nest/flow.server';
export { FlowStatus } from './nest/broker-host';
export { FlowClient } from './nest/flow.client';
export type { FlowPublishOptions, FlowRequestOptions } from './nest/flow.client';
export { FlowContext } from './nest/flow.context';
export { FlowRecord, FlowRecordBuilder } from './nest/flow-record';
export type { FlowRecordOptions } from './nest/flow-record';
export { RequestHandler, StreamHandler } from './nest/stream-handler.decorator';
export type { StreamHandlerOptions } from './nest/stream-handler.decorator';
export { OnPartitionsAcquired, OnPartitionsReleased } from './nest/partition-hooks';
export type { FlowPartitionEvents } from './nest/partition-events';
export type { KeyRange, OwnershipChange } from './core/ownership';

// Serialization, errors and health
export { JsonFlowDeserializer, JsonFlowSerializer } from './nest/flow.serializer';
export type { FlowDeserializer, FlowSerializer } from './nest/flow.serializer';
export { FlowHandlerError } from './nest/flow-handler.error';
export { FlowExceptionFilter } from './nest/flow-exception.filter';
export { FlowRemoteErrorFilter } from './nest/flow-remote-error.filter';
export { FlowHealthIndicator } from './nest/flow.health';
export type { FlowHealthDetails } from './nest/flow.health';
export { FlowMetrics } from './nest/flow.metrics';
export {
  ClosedError,
  ErrorCode,
  FlowError,
  InvalidOptionError,
  OverloadedError,
  RemoteError,
  TimeoutError,
  TransportError,
} from './core/errors';

// What a Nest app meets of the broker: the shared in-memory bus and the ring
export { MemoryBus } from './core/memory-pubsub';
export type { BrokerCounters, RingSnapshot } from './core/broker';
