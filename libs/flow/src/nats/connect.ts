import { connect, type ConnectionOptions } from 'nats';
import { TransportError } from '../core/errors';
import { isAuthorizationError, reasonOf } from './client-errors';
import { NatsPubSub } from './nats-pubsub';
import { resolveNatsOptions, type NatsOptions, type ResolvedNatsOptions } from './nats-options';

/**
 * Connects to NATS and returns an adapter that owns the connection: its
 * close() drains and closes it. Rejects with InvalidOptionError for bad
 * options and with TransportError (the client's error as `cause`) when no
 * server accepts the connection.
 */
export async function connectNats(options: NatsOptions): Promise<NatsPubSub> {
  const resolved = resolveNatsOptions(options);
  let connection;
  try {
    connection = await connect(toClientOptions(resolved));
  } catch (error) {
    throw connectFailure(resolved.servers, error);
  }
  return NatsPubSub.fromConnection(connection, {
    owned: true,
    onError: resolved.onError,
    drainTimeoutMs: resolved.drainTimeoutMs,
  });
}

function toClientOptions(options: ResolvedNatsOptions): ConnectionOptions {
  const client: ConnectionOptions = {
    servers: [...options.servers],
    reconnect: options.reconnect.maxAttempts !== 0,
    maxReconnectAttempts: options.reconnect.maxAttempts,
    reconnectTimeWait: options.reconnect.waitMs,
  };
  if (options.name !== undefined) client.name = options.name;
  if (options.tls !== undefined) client.tls = { ...options.tls };
  if (options.user !== undefined) client.user = options.user;
  if (options.pass !== undefined) client.pass = options.pass;
  if (options.token !== undefined) client.token = options.token;
  if (options.pingIntervalMs !== undefined) client.pingInterval = options.pingIntervalMs;
  return client;
}

function connectFailure(servers: readonly string[], error: unknown): TransportError {
  const where = servers.map(withoutCredentials).join(', ');
  const message = isAuthorizationError(error)
    ? `NATS authorization failed at ${where}: ${reasonOf(error)}`
    : `cannot connect to NATS at ${where}: ${reasonOf(error)}`;
  return new TransportError(message, { cause: error });
}

/** Hides user:password@ in a server URL, which may appear in logs. */
function withoutCredentials(server: string): string {
  return server.replace(/^([a-z]+:\/\/)[^@/]*@/i, '$1***@');
}
