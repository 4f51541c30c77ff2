import { Broker } from '../core/broker';
import { InvalidOptionError } from '../core/errors';
import type { Key } from '../core/key';
import { MemoryBus, MemoryPubSub } from '../core/memory-pubsub';
import { BrokerOptions, integerOption } from '../core/options';
import { waitFor, WaitForOptions } from './wait-for';

/** Large enough for any test, small enough that a typo cannot exhaust memory. */
const MAX_SIZE = 64;

export interface MemoryCliqueOptions {
  /** Number of brokers, 1 to 64. */
  size: number;
  /**
   * Options of every broker, or of broker `index`. A broker given neither
   * `nodeKey` nor `nodeName` is named `node-<index + 1>`, so that rings and
   * owners are the same in every run.
   */
  options?: BrokerOptions | ((index: number) => BrokerOptions);
  /**
   * Registers handlers on broker `index` before it starts. A broker without
   * handlers is a publisher: it never joins the ring. Default: none.
   */
  setup?: (broker: Broker, index: number) => void | Promise<void>;
  /** The order in which the brokers start: a permutation of 0..size-1. Default ascending. */
  startOrder?: readonly number[];
  /** False leaves starting to the test (`broker.start()`). Default true. */
  start?: boolean;
  /** The bus to connect to; default a new one. */
  bus?: MemoryBus;
}

/** Brokers on one in-memory bus, each on its own connection named `broker-<index>`. */
export interface MemoryClique {
  readonly bus: MemoryBus;
  readonly brokers: readonly Broker[];
  /** The connection of each broker, by index: `connections[i].kill()` is a crash. */
  readonly connections: readonly MemoryPubSub[];
  /** Brokers neither crashed nor left through this clique. */
  live(): Broker[];
  /** The sorted positions of every live broker that has joined: what each of their rings should hold. */
  expectedMembers(): Key[];
  /** True when every live joined broker's ring holds exactly `expectedMembers()`. */
  isConverged(): boolean;
  /** Resolves once `isConverged()`; rejects with FLOW_TIMEOUT after `timeoutMs` (default 2000). */
  converged(options?: Omit<WaitForOptions, 'bus' | 'what'>): Promise<void>;
  /** Simulates a crash of broker `index`: its subscriptions vanish, its publishes are lost, nobody is told. */
  crash(index: number): void;
  /** Closes broker `index` (it broadcasts LEAV) and counts it out of `live()`. */
  leave(index: number): Promise<void>;
  /** Closes every broker and connection, then drains the bus. Idempotent. */
  close(): Promise<void>;
}

/**
 * Builds a clique of `size` brokers on an in-memory bus, for tests: one
 * process, no network, deterministic node keys.
 *
 * ```ts
 * const clique = await createMemoryClique({
 *   size: 3,
 *   options: { virtualNodes: 8, stabilization: { interval: 0 } },
 *   setup: (broker) => broker.handle('orders', (d) => seen.push(d)),
 * });
 * await clique.converged();
 * ```
 */
export async function createMemoryClique(config: MemoryCliqueOptions): Promise<MemoryClique> {
  const { size, setup, start = true } = config;
  integerOption('size', size, undefined, 1, MAX_SIZE);
  const startOrder = config.startOrder ?? Array.from({ length: size }, (_, i) => i);
  if (startOrder.length !== size || [...startOrder].sort((a, b) => a - b).some((v, i) => v !== i)) {
    throw new InvalidOptionError('startOrder', `must be a permutation of 0..${size - 1}`, startOrder);
  }
  const bus = config.bus ?? new MemoryBus();
  const connections = Array.from({ length: size }, (_, i) => bus.connect(`broker-${i}`));
  const brokers = connections.map((connection, i) => new Broker(connection, brokerOptions(config.options, i)));
  const gone = new Set<number>();
  let closing: Promise<void> | undefined;

  if (setup !== undefined) {
    for (let i = 0; i < size; i++) await setup(brokers[i], i);
  }
  if (start) {
    for (const i of startOrder) await brokers[i].start();
  }

  const live = (): Broker[] => brokers.filter((_, i) => !gone.has(i));
  const expectedMembers = (): Key[] =>
    live()
      .map((broker) => broker.snapshot())
      .filter((snapshot) => snapshot.joined)
      .flatMap((snapshot) => snapshot.positions)
      .sort((a, b) => a.compare(b));
  const isConverged = (): boolean => {
    const expected = expectedMembers().join(',');
    return live().every((broker) => {
      const snapshot = broker.snapshot();
      return !snapshot.joined || snapshot.members.join(',') === expected;
    });
  };
  const checkIndex = (index: number): void => {
    integerOption('index', index, undefined, 0, size - 1);
  };

  return {
    bus,
    brokers,
    connections,
    live,
    expectedMembers,
    isConverged,
    converged: (options = {}) => waitFor(isConverged, { ...options, bus, what: 'the clique to converge' }),
    crash(index) {
      checkIndex(index);
      gone.add(index);
      connections[index].kill();
    },
    leave(index) {
      checkIndex(index);
      gone.add(index);
      return brokers[index].close();
    },
    close() {
      closing ??= (async () => {
        for (let i = 0; i < size; i++) gone.add(i);
        await Promise.allSettled(brokers.map((broker) => broker.close()));
        await Promise.allSettled(connections.map((connection) => connection.close()));
        await bus.idle();
      })();
      return closing;
    },
  };
}

function brokerOptions(options: MemoryCliqueOptions['options'], index: number): BrokerOptions {
  const given = typeof options === 'function' ? options(index) : { ...options };
  if (given.nodeKey === undefined && given.nodeName === undefined) return { ...given, nodeName: `node-${index + 1}` };
  return given;
}
