// The Nest-facing surface of Flow. Every export is named; anything not listed is internal.
export { FlowModule } from './flow.module';
export type { FlowModuleAsyncOptions, FlowModuleExtras, FlowOptionsFactory } from './flow.module-definition';
export { FLOW_MODULE_DEFAULTS, resolveFlowModuleOptions } from './flow.options';
export type {
  FlowEmbeddedOptions,
  FlowModuleOptions,
  FlowTransportOptions,
  ResolvedFlowModuleOptions,
} from './flow.options';
export { FLOW_EXTRAS_KEY, FLOW_MODULE_OPTIONS, FLOW_TRANSPORT, StreamKind } from './flow.constants';
export type { FlowHandlerExtras } from './flow.constants';
export { FlowBrokerHost, FlowStatus } from './broker-host';
export { FlowServer } from './flow.server';
export type { FlowServerEvents } from './flow.server';
export { FlowClient } from './flow.client';
export type { FlowPublishOptions, FlowRequestOptions } from './flow.client';
export { FlowContext } from './flow.context';
export { FlowRecord, FlowRecordBuilder } from './flow-record';
export type { FlowRecordOptions } from './flow-record';
export { RequestHandler, StreamHandler } from './stream-handler.decorator';
export type { StreamHandlerOptions } from './stream-handler.decorator';
export { JsonFlowDeserializer, JsonFlowSerializer } from './flow.serializer';
export type { FlowDeserializer, FlowSerializer } from './flow.serializer';
export { FlowHandlerError, FlowHandlerErrorCode } from './flow-handler.error';
export { FlowExceptionFilter } from './flow-exception.filter';
export { FlowHealthIndicator } from './flow.health';
export type { FlowHealthDetails } from './flow.health';
