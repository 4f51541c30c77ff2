import { Clock, systemClock } from './clock';
import { Codec, DefaultCodec } from './codec';
import { FlowError, InvalidOptionError } from './errors';
import type { BrokerInstrumentation } from './instrumentation';
import { Key, keyFromString, parseKey, randomKey } from './key';

/** What a user may pass to `new Broker(pubsub, options)`. Every field is optional. */
export interface BrokerOptions {
  /** Name of the clique (the broadcast subject). Default `_global`. */
  clique?: string;
  /** Explicit node key (a Key or its 16-hex text form). Excludes `nodeName`. */
  nodeKey?: Key | string;
  /** The node key becomes `keyFromString(nodeName)`, as in Go flow. Excludes `nodeKey`. */
  nodeName?: string;
  /** Ring positions this broker holds. 1 reproduces Go flow exactly. Default 256. */
  virtualNodes?: number;
  /** Encoding of plain stream messages. Default: DefaultCodec (Go wire format). */
  codec?: Codec;
  /** How long a FWD or PING waits for its answer before the target is suspected, ms. Default 500. */
  ackTimeout?: number;
  /** Default timeout of `request()`, ms. Default 1000. */
  requestTimeout?: number;
  stabilization?: {
    /** Period between stabilization rounds, ms; 0 switches stabilization off. Default 10000. */
    interval?: number;
    /** Successors listed in INFO answers. Default 5. */
    successors?: number;
    /** Members pinged per round besides the successors, rotating through the ring. Default 5. */
    stabilizers?: number;
  };
  /** Handlers that may run at once (always for different partition keys). Default 256. */
  concurrency?: number;
  /** When > 0, partitions with equal `hash % syncPartitions` never run concurrently. Default 0. */
  syncPartitions?: number;
  /** Requests awaiting a reply from this broker. Default 10000. */
  maxPendingRequests?: number;
  /** Forwards awaiting an ACK from their owner (the window); more wait in order. Default 10000. */
  maxInFlightForwards?: number;
  /**
   * Messages accepted for handling but waiting for their turn, and (a second,
   * separate bound) forwards waiting for the window; beyond it they are
   * dropped with an OverloadedError. Default 100000.
   */
  maxQueuedMessages?: number;
  /** Receives asynchronous errors (malformed input, handler failures, overload). Default: none. */
  onError?: (error: FlowError) => void;
  /** Timers; tests inject a fake clock. Default: the system clock. */
  clock?: Clock;
  /** Tracing and metrics hooks (see BrokerInstrumentation). Default: none, and no per-message telemetry work. */
  instrumentation?: BrokerInstrumentation;
}

/** Defaults, with their units. */
export const DEFAULTS = Object.freeze({
  clique: '_global',
  virtualNodes: 256,
  ackTimeoutMs: 500,
  requestTimeoutMs: 1000,
  stabilizationIntervalMs: 10_000,
  successors: 5,
  stabilizers: 5,
  concurrency: 256,
  syncPartitions: 0,
  maxPendingRequests: 10_000,
  maxInFlightForwards: 10_000,
  maxQueuedMessages: 100_000,
});

/** Upper bounds that keep one broker's resource use sane. */
export const LIMITS = Object.freeze({
  virtualNodes: 4096,
  timeoutMs: 2 ** 31 - 1,
  successors: 64,
  stabilizers: 1024,
  syncPartitions: 1 << 20,
});

export interface ResolvedBrokerOptions {
  readonly clique: string;
  readonly nodeKey: Key;
  readonly virtualNodes: number;
  readonly codec: Codec;
  readonly ackTimeout: number;
  readonly requestTimeout: number;
  readonly stabilization: { readonly interval: number; readonly successors: number; readonly stabilizers: number };
  readonly concurrency: number;
  readonly syncPartitions: number;
  readonly maxPendingRequests: number;
  readonly maxInFlightForwards: number;
  readonly maxQueuedMessages: number;
  readonly onError: ((error: FlowError) => void) | undefined;
  readonly clock: Clock;
  readonly instrumentation: BrokerInstrumentation | undefined;
}

/** Fills in defaults and validates everything once; the result is frozen. */
export function resolveBrokerOptions(input: BrokerOptions = {}): ResolvedBrokerOptions {
  if (input === null || typeof input !== 'object') throw new InvalidOptionError('options', 'must be an object', input);
  const clique = input.clique ?? DEFAULTS.clique;
  if (typeof clique !== 'string' || clique.length === 0 || /[\s*>]/.test(clique)) {
    throw new InvalidOptionError('clique', 'must be a non-empty NATS subject without spaces or wildcards', clique);
  }
  if (input.nodeKey !== undefined && input.nodeName !== undefined) {
    throw new InvalidOptionError('nodeName', 'cannot be combined with nodeKey', input.nodeName);
  }
  const stabilization = input.stabilization ?? {};
  if (typeof stabilization !== 'object') {
    throw new InvalidOptionError('stabilization', 'must be an object', stabilization);
  }
  const codec = input.codec ?? new DefaultCodec();
  if (typeof codec.encode !== 'function' || typeof codec.decode !== 'function') {
    throw new InvalidOptionError('codec', 'must have encode() and decode()', codec);
  }
  if (input.onError !== undefined && typeof input.onError !== 'function') {
    throw new InvalidOptionError('onError', 'must be a function', input.onError);
  }
  return Object.freeze({
    clique,
    nodeKey: resolveNodeKey(input),
    virtualNodes: integer('virtualNodes', input.virtualNodes, DEFAULTS.virtualNodes, 1, LIMITS.virtualNodes),
    codec,
    ackTimeout: integer('ackTimeout', input.ackTimeout, DEFAULTS.ackTimeoutMs, 1, LIMITS.timeoutMs),
    requestTimeout: integer('requestTimeout', input.requestTimeout, DEFAULTS.requestTimeoutMs, 1, LIMITS.timeoutMs),
    stabilization: Object.freeze({
      interval: integer(
        'stabilization.interval',
        stabilization.interval,
        DEFAULTS.stabilizationIntervalMs,
        0,
        LIMITS.timeoutMs,
      ),
      successors: integer('stabilization.successors', stabilization.successors, DEFAULTS.successors, 1, LIMITS.successors),
      stabilizers: integer(
        'stabilization.stabilizers',
        stabilization.stabilizers,
        DEFAULTS.stabilizers,
        0,
        LIMITS.stabilizers,
      ),
    }),
    concurrency: integer('concurrency', input.concurrency, DEFAULTS.concurrency, 1, 2 ** 20),
    syncPartitions: integer('syncPartitions', input.syncPartitions, DEFAULTS.syncPartitions, 0, LIMITS.syncPartitions),
    maxPendingRequests: integer('maxPendingRequests', input.maxPendingRequests, DEFAULTS.maxPendingRequests, 1, 2 ** 24),
    maxInFlightForwards: integer(
      'maxInFlightForwards',
      input.maxInFlightForwards,
      DEFAULTS.maxInFlightForwards,
      1,
      2 ** 24,
    ),
    maxQueuedMessages: integer('maxQueuedMessages', input.maxQueuedMessages, DEFAULTS.maxQueuedMessages, 1, 2 ** 26),
    onError: input.onError,
    clock: input.clock ?? systemClock,
    instrumentation: resolveInstrumentation(input.instrumentation),
  });
}

function resolveNodeKey(input: BrokerOptions): Key {
  if (input.nodeKey instanceof Key) return input.nodeKey;
  if (typeof input.nodeKey === 'string') {
    try {
      return parseKey(input.nodeKey);
    } catch {
      throw new InvalidOptionError('nodeKey', 'must be a Key or 16 hex digits', input.nodeKey);
    }
  }
  if (input.nodeKey !== undefined) throw new InvalidOptionError('nodeKey', 'must be a Key or 16 hex digits', input.nodeKey);
  if (input.nodeName !== undefined) {
    if (typeof input.nodeName !== 'string' || input.nodeName.length === 0) {
      throw new InvalidOptionError('nodeName', 'must be a non-empty string', input.nodeName);
    }
    return keyFromString(input.nodeName);
  }
  return randomKey();
}

const INSTRUMENTATION_METHODS = ['publish', 'request', 'forward', 'handle'] as const;

function resolveInstrumentation(value: BrokerInstrumentation | undefined): BrokerInstrumentation | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || INSTRUMENTATION_METHODS.some((m) => typeof value[m] !== 'function')) {
    throw new InvalidOptionError('instrumentation', `must be an object with ${INSTRUMENTATION_METHODS.join(', ')} methods`, value);
  }
  return value;
}

function integer(option: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(option, `must be an integer from ${min} to ${max}`, value);
  }
  return value;
}
