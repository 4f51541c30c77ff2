export { connectNats } from './connect';
export { NatsPubSub } from './nats-pubsub';
export {
  NATS_DEFAULTS,
  resolveNatsOptions,
  resolveNatsPubSubOptions,
  type NatsErrorHandler,
  type NatsOptions,
  type NatsPubSubOptions,
  type NatsReconnectOptions,
  type NatsTlsOptions,
  type ResolvedNatsOptions,
  type ResolvedNatsPubSubOptions,
} from './nats-options';
export type {
  NatsConnectionLike,
  NatsMsgCallback,
  NatsMsgLike,
  NatsStatusLike,
  NatsSubscriptionLike,
} from './nats-connection';
