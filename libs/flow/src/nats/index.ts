// The NATS adapter (`nestjs-flow/nats`): a PubSub over a `nats` v2 or an
// `@nats-io/transport-node` v3 connection. Every export is named.
export { connectNats } from './connect';
export { NatsPubSub } from './nats-pubsub';
export { NATS_DEFAULTS } from './nats-options';
export type {
  NatsErrorHandler,
  NatsOptions,
  NatsPubSubOptions,
  NatsReconnectOptions,
  NatsTlsOptions,
} from './nats-options';
export type { NatsConnectionLike } from './nats-connection';
