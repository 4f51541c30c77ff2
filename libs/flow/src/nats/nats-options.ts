import { InvalidOptionError } from '../core/errors';
import { integerOption } from '../core/options';

/**
 * Receives what the adapter cannot throw to anyone: exceptions from message
 * handlers and status listeners (with the subject, when there is one), errors
 * the server reports asynchronously, and drain failures during close().
 * It must not throw; if it does, the adapter ignores that exception.
 */
export type NatsErrorHandler = (error: unknown, subject?: string) => void;

/**
 * TLS settings. The file fields are read by the client when it connects; any
 * other field (ca, cert, key, rejectUnauthorized, ...) is passed through to
 * Node's tls.connect. An empty object requires TLS and trusts the system CAs.
 */
export interface NatsTlsOptions {
  /** PEM file of the CA that signed the server certificate. */
  caFile?: string;
  /** PEM file of the client certificate (needs keyFile). */
  certFile?: string;
  /** PEM file of the client private key (needs certFile). */
  keyFile?: string;
  readonly [tlsOption: string]: unknown;
}

export interface NatsReconnectOptions {
  /** Reconnect attempts per server before the connection closes; -1 retries forever, 0 never reconnects. Default -1. */
  maxAttempts?: number;
  /** Milliseconds between attempts on the same server, 1..600000. Default 2000. */
  waitMs?: number;
}

/** Options of NatsPubSub.fromConnection (the adapter over a connection it is given). */
export interface NatsPubSubOptions {
  /** Whether close() also drains and closes the connection. Default false. */
  owned?: boolean;
  /** Where asynchronous errors go. Default: console.error. */
  onError?: NatsErrorHandler;
  /** Bound on close(): after this many milliseconds the drain is abandoned and subscriptions (and an owned connection) are closed at once. 1..3600000, default 10000. */
  drainTimeoutMs?: number;
}

/** Options of connectNats: the connection it creates and the adapter over it. */
export interface NatsOptions {
  /** Required. One URL or several, as a list or a comma-separated string ("nats://127.0.0.1:4222,tls://host:4443"). The scheme, nats:// or tls://, may be omitted. */
  servers: string | readonly string[];
  /** Client name, shown by the server's monitoring endpoints. */
  name?: string;
  /** Require TLS; see NatsTlsOptions. */
  tls?: NatsTlsOptions;
  /** User name; requires pass, excludes token. */
  user?: string;
  /** Password; requires user. */
  pass?: string;
  /** Authorization token; excludes user and pass. */
  token?: string;
  /** Reconnect policy; false never reconnects. */
  reconnect?: NatsReconnectOptions | false;
  /** Milliseconds between client pings, 1000..3600000. Default: the client's (120000). */
  pingIntervalMs?: number;
  /** See NatsPubSubOptions.onError. */
  onError?: NatsErrorHandler;
  /** See NatsPubSubOptions.drainTimeoutMs. */
  drainTimeoutMs?: number;
}

export interface ResolvedNatsPubSubOptions {
  readonly owned: boolean;
  readonly onError: NatsErrorHandler;
  readonly drainTimeoutMs: number;
}

export interface ResolvedNatsOptions {
  /** Each entry trimmed and non-empty, in the order given. */
  readonly servers: readonly string[];
  readonly name: string | undefined;
  readonly tls: Readonly<NatsTlsOptions> | undefined;
  readonly user: string | undefined;
  readonly pass: string | undefined;
  readonly token: string | undefined;
  readonly reconnect: Readonly<Required<NatsReconnectOptions>>;
  readonly pingIntervalMs: number | undefined;
  readonly onError: NatsErrorHandler;
  readonly drainTimeoutMs: number;
}

/** Defaults; durations are in milliseconds. */
export const NATS_DEFAULTS = Object.freeze({
  reconnectMaxAttempts: -1,
  reconnectWaitMs: 2000,
  drainTimeoutMs: 10_000,
  onError: ((error: unknown, subject?: string): void => {
    console.error(subject === undefined ? '[flow/nats]' : `[flow/nats] on "${subject}":`, error);
  }) as NatsErrorHandler,
});

const HOUR_MS = 3_600_000;
/** Stands in for a credential in error messages. */
const REDACTED = '<redacted>';
const SERVER_SCHEMES: readonly string[] = ['nats:', 'tls:'];
const TLS_FILES = ['caFile', 'certFile', 'keyFile'] as const;

/** Validates and completes the options of connectNats. Throws InvalidOptionError. */
export function resolveNatsOptions(options: NatsOptions): ResolvedNatsOptions {
  if (!isRecord(options)) throw new InvalidOptionError('options', 'must be an object', options);
  const adapter = resolveNatsPubSubOptions({ onError: options.onError, drainTimeoutMs: options.drainTimeoutMs });
  const user = optionalString('user', options.user, { nonEmpty: true });
  const pass = optionalString('pass', options.pass, { nonEmpty: false });
  const token = optionalString('token', options.token, { nonEmpty: true });
  if (user !== undefined && pass === undefined) {
    throw new InvalidOptionError('pass', 'is required when user is set', pass);
  }
  if (pass !== undefined && user === undefined) {
    throw new InvalidOptionError('user', 'is required when pass is set', user);
  }
  if (token !== undefined && user !== undefined) {
    throw new InvalidOptionError('token', 'cannot be combined with user and pass', REDACTED);
  }
  return Object.freeze({
    servers: resolveServers(options.servers),
    name: optionalString('name', options.name, { nonEmpty: true }),
    tls: resolveTls(options.tls),
    user,
    pass,
    token,
    reconnect: resolveReconnect(options.reconnect),
    pingIntervalMs: integerOption('pingIntervalMs', options.pingIntervalMs, undefined, 1000, HOUR_MS),
    onError: adapter.onError,
    drainTimeoutMs: adapter.drainTimeoutMs,
  });
}

/** Validates and completes the options of NatsPubSub.fromConnection. Throws InvalidOptionError. */
export function resolveNatsPubSubOptions(options: NatsPubSubOptions = {}): ResolvedNatsPubSubOptions {
  if (!isRecord(options)) throw new InvalidOptionError('options', 'must be an object', options);
  const { owned, onError }: { owned?: unknown; onError?: unknown } = options;
  if (owned !== undefined && typeof owned !== 'boolean') {
    throw new InvalidOptionError('owned', 'must be a boolean', owned);
  }
  if (onError !== undefined && typeof onError !== 'function') {
    throw new InvalidOptionError('onError', 'must be a function', onError);
  }
  return Object.freeze({
    owned: owned ?? false,
    onError: (onError as NatsErrorHandler | undefined) ?? NATS_DEFAULTS.onError,
    drainTimeoutMs:
      integerOption('drainTimeoutMs', options.drainTimeoutMs, NATS_DEFAULTS.drainTimeoutMs, 1, HOUR_MS),
  });
}

function resolveServers(value: unknown): readonly string[] {
  let entries: unknown[];
  if (typeof value === 'string') entries = value.split(',');
  else if (Array.isArray(value)) entries = value;
  else throw new InvalidOptionError('servers', 'must be a URL, a comma-separated list of URLs or an array of URLs', value);
  if (entries.length === 0) throw new InvalidOptionError('servers', 'must name at least one server', value);
  const servers = entries.map((entry, index) => {
    const option = Array.isArray(value) ? `servers[${index}]` : 'servers';
    if (typeof entry !== 'string') throw new InvalidOptionError(option, 'must be a string', entry);
    const server = entry.trim();
    if (!isServerUrl(server)) {
      throw new InvalidOptionError(option, 'must be a nats:// or tls:// URL or host:port without spaces', entry);
    }
    return server;
  });
  return Object.freeze(servers);
}

function isServerUrl(server: string): boolean {
  if (server === '' || /\s/.test(server)) return false;
  const withScheme = server.includes('://') ? server : `nats://${server}`;
  try {
    const url = new URL(withScheme);
    return SERVER_SCHEMES.includes(url.protocol) && url.hostname !== '';
  } catch {
    return false;
  }
}

function resolveTls(value: unknown): Readonly<NatsTlsOptions> | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value)) throw new InvalidOptionError('tls', 'must be an object of TLS options', value);
  for (const field of TLS_FILES) optionalString(`tls.${field}`, value[field], { nonEmpty: true });
  if ((value['certFile'] === undefined) !== (value['keyFile'] === undefined)) {
    const missing = value['certFile'] === undefined ? 'certFile' : 'keyFile';
    throw new InvalidOptionError(`tls.${missing}`, 'is required when a client certificate file is set', undefined);
  }
  return Object.freeze({ ...value });
}

function resolveReconnect(value: unknown): Readonly<Required<NatsReconnectOptions>> {
  if (value === false) return Object.freeze({ maxAttempts: 0, waitMs: NATS_DEFAULTS.reconnectWaitMs });
  if (value === undefined) value = {};
  if (!isRecord(value)) throw new InvalidOptionError('reconnect', 'must be false or an object', value);
  return Object.freeze({
    maxAttempts: integerOption(
      'reconnect.maxAttempts',
      value['maxAttempts'],
      NATS_DEFAULTS.reconnectMaxAttempts,
      -1,
      Number.MAX_SAFE_INTEGER,
    ),
    waitMs: integerOption('reconnect.waitMs', value['waitMs'], NATS_DEFAULTS.reconnectWaitMs, 1, 600_000),
  });
}

function optionalString(option: string, value: unknown, { nonEmpty }: { nonEmpty: boolean }): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new InvalidOptionError(option, 'must be a string', value);
  if (nonEmpty && value.trim() === '') throw new InvalidOptionError(option, 'must not be empty', value);
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
