import { Clock, systemClock } from './clock';
import { Codec, DefaultCodec } from './codec';
import { FlowError, InvalidOptionError } from './errors';
import type { BrokerInstrumentation } from './instrumentation';
import { Key, keyFromString, PARTITION_HASHES, PartitionHash, parseKey, randomKey } from './key';
import { checkSubject } from './subjects';

/** What a user may pass to `new Broker(pubsub, options)`. Every field is optional. */
export interface BrokerOptions {
  /** Name of the clique (the broadcast subject). Default `_global`. */
  clique?: string;
  /** Explicit node key (a Key or its 16-hex text form). Excludes `nodeName`. */
  nodeKey?: Key | string;
  /**
   * The node key becomes `keyFromString(nodeName, partitionHash)`: distinct names give
   * distinct keys by default; with `partitionHash: 'go-flow'` it is Go flow's key for
   * the name. Excludes `nodeKey`.
   */
  nodeName?: string;
  /**
   * How partition keys and node names are hashed. `'murmur3'` (default) is standard
   * MurmurHash3 x64-128 and reads every byte. `'go-flow'` is Go flow's variant, which
   * skips bytes 24..31 of 32-byte keys: required in a clique with Go brokers. Every
   * broker of a clique must use the same mode (docs/MIGRATION.md).
   */
  partitionHash?: PartitionHash;
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
  /**
   * Messages publish() holds while the transport is down (disconnected or
   * reconnecting), sent when it is back; beyond them publish() rejects with
   * FLOW_OVERLOADED. 0 rejects every publish and request at once with
   * FLOW_TRANSPORT while the transport is down. 0..1000000, default 0.
   */
  reconnectBuffer?: number;
  /**
   * Keyed publishes and requests go straight to their owner once this broker
   * knows the ring (docs/PROTOCOL.md, "Direct publishing"); false sends every
   * message to the stream's queue group, as Go flow does. Default true.
   */
  directRouting?: boolean;
  /**
   * Direct FWDs sent to one Flow owner within one turn go as one transport
   * message (docs/PROTOCOL.md, "Forward batches"), to owners whose notices
   * say they take them. Default: as the transport prefers (PubSub.prefersBatches:
   * true on NATS, false on the in-memory bus).
   */
  batchForwards?: boolean;
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
  partitionHash: 'murmur3' as PartitionHash,
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
  reconnectBuffer: 0,
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
  /** The `nodeName` the node key was derived from; undefined for an explicit or random key. */
  readonly nodeKeyFrom: string | undefined;
  readonly partitionHash: PartitionHash;
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
  readonly reconnectBuffer: number;
  readonly directRouting: boolean;
  /** Undefined: as the transport prefers. */
  readonly batchForwards: boolean | undefined;
  readonly onError: ((error: FlowError) => void) | undefined;
  readonly clock: Clock;
  readonly instrumentation: BrokerInstrumentation | undefined;
}

/** Fills in defaults and validates everything once; the result is frozen. */
export function resolveBrokerOptions(input: BrokerOptions = {}): ResolvedBrokerOptions {
  if (input === null || typeof input !== 'object') throw new InvalidOptionError('options', 'must be an object', input);
  const clique = checkSubject('clique', input.clique ?? DEFAULTS.clique);
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
  const partitionHash = input.partitionHash === undefined ? DEFAULTS.partitionHash : input.partitionHash;
  if (!PARTITION_HASHES.includes(partitionHash)) {
    throw new InvalidOptionError('partitionHash', `must be one of ${PARTITION_HASHES.map((m) => `'${m}'`).join(', ')}`, partitionHash);
  }
  return Object.freeze({
    clique,
    nodeKey: resolveNodeKey(input, partitionHash),
    nodeKeyFrom: input.nodeKey === undefined ? input.nodeName : resolvedName(input),
    partitionHash,
    virtualNodes: integerOption('virtualNodes', input.virtualNodes, DEFAULTS.virtualNodes, 1, LIMITS.virtualNodes),
    codec,
    ackTimeout: integerOption('ackTimeout', input.ackTimeout, DEFAULTS.ackTimeoutMs, 1, LIMITS.timeoutMs),
    requestTimeout: integerOption('requestTimeout', input.requestTimeout, DEFAULTS.requestTimeoutMs, 1, LIMITS.timeoutMs),
    stabilization: Object.freeze({
      interval: integerOption(
        'stabilization.interval',
        stabilization.interval,
        DEFAULTS.stabilizationIntervalMs,
        0,
        LIMITS.timeoutMs,
      ),
      successors: integerOption('stabilization.successors', stabilization.successors, DEFAULTS.successors, 1, LIMITS.successors),
      stabilizers: integerOption(
        'stabilization.stabilizers',
        stabilization.stabilizers,
        DEFAULTS.stabilizers,
        0,
        LIMITS.stabilizers,
      ),
    }),
    concurrency: integerOption('concurrency', input.concurrency, DEFAULTS.concurrency, 1, 2 ** 20),
    syncPartitions: integerOption('syncPartitions', input.syncPartitions, DEFAULTS.syncPartitions, 0, LIMITS.syncPartitions),
    maxPendingRequests: integerOption('maxPendingRequests', input.maxPendingRequests, DEFAULTS.maxPendingRequests, 1, 2 ** 24),
    maxInFlightForwards: integerOption(
      'maxInFlightForwards',
      input.maxInFlightForwards,
      DEFAULTS.maxInFlightForwards,
      1,
      2 ** 24,
    ),
    maxQueuedMessages: integerOption('maxQueuedMessages', input.maxQueuedMessages, DEFAULTS.maxQueuedMessages, 1, 2 ** 26),
    reconnectBuffer: integerOption('reconnectBuffer', input.reconnectBuffer, DEFAULTS.reconnectBuffer, 0, 1_000_000),
    directRouting: booleanOption('directRouting', input.directRouting, true),
    batchForwards: input.batchForwards === undefined ? undefined : booleanOption('batchForwards', input.batchForwards, true),
    onError: input.onError,
    clock: input.clock === undefined ? systemClock : clockOption(input.clock),
    instrumentation: resolveInstrumentation(input.instrumentation),
  });
}

function resolveNodeKey(input: BrokerOptions, partitionHash: PartitionHash): Key {
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
    return keyFromString(input.nodeName, partitionHash);
  }
  return randomKey();
}

function resolveInstrumentation(value: BrokerInstrumentation | undefined): BrokerInstrumentation | undefined {
  return value === undefined ? undefined : methodsOption<BrokerInstrumentation>('instrumentation', value, ['publish', 'request', 'forward', 'handle']);
}

/** Returns `value` as a Clock (the broker's or MemoryBus's `clock` option); InvalidOptionError otherwise. */
export function clockOption(value: unknown): Clock {
  return methodsOption<Clock>('clock', value, ['setTimeout', 'clearTimeout', 'now']);
}

/** Returns `value` when it is an object with every function in `methods`; throws InvalidOptionError naming `option` otherwise. */
function methodsOption<T extends object>(option: string, value: unknown, methods: readonly (keyof T & string)[]): T {
  const object = value as Record<string, unknown> | null;
  if (object === null || typeof object !== 'object' || methods.some((m) => typeof object[m] !== 'function')) {
    throw new InvalidOptionError(option, `must be an object with ${methods.join(', ')} methods`, value);
  }
  return value as T;
}

/** Resolving resolved options again (the Nest host does) keeps the name their key came from. */
function resolvedName(input: BrokerOptions & { nodeKeyFrom?: unknown }): string | undefined {
  return typeof input.nodeKeyFrom === 'string' ? input.nodeKeyFrom : undefined;
}

function booleanOption(option: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new InvalidOptionError(option, 'must be true or false', value);
  return value;
}

/**
 * The one integer-option check of the library (core, nats and nest options
 * use it): `fallback` when the value is undefined, the value when it is an
 * integer from `min` to `max`, else an InvalidOptionError naming the option.
 */
export function integerOption<F extends number | undefined>(
  option: string,
  value: unknown,
  fallback: F,
  min: number,
  max: number,
): number | F {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(option, `must be an integer from ${min} to ${max}`, value);
  }
  return value;
}
