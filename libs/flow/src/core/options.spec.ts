import { ManualClock } from '../testing/manual-clock';
import { Broker } from './broker';
import { systemClock } from './clock';
import { DefaultCodec } from './codec';
import { InvalidOptionError } from './errors';
import { keyFromString, parseKey } from './key';
import { MemoryBus } from './memory-pubsub';
import { BrokerOptions, DEFAULTS, LIMITS, resolveBrokerOptions } from './options';

/** The InvalidOptionError that `fn` throws, or a failure when it throws anything else or nothing. */
function invalidOption(fn: () => unknown): InvalidOptionError {
  try {
    fn();
  } catch (error) {
    if (error instanceof InvalidOptionError) return error;
    throw new Error(`expected an InvalidOptionError, got ${String(error)}`);
  }
  throw new Error('expected an InvalidOptionError, nothing was thrown');
}

describe('resolveBrokerOptions', () => {
  it('fills in the documented defaults and freezes the result', () => {
    const resolved = resolveBrokerOptions();
    expect(resolved).toMatchObject({
      clique: '_global',
      virtualNodes: DEFAULTS.virtualNodes,
      ackTimeout: 500,
      requestTimeout: 1000,
      stabilization: { interval: 10_000, successors: 5, stabilizers: 5 },
      concurrency: DEFAULTS.concurrency,
      syncPartitions: 0,
      maxPendingRequests: 10_000,
      maxInFlightForwards: 10_000,
      maxQueuedMessages: 100_000,
      onError: undefined,
      clock: systemClock,
    });
    expect(resolved.codec).toBeInstanceOf(DefaultCodec);
    expect(Object.isFrozen(resolved)).toBe(true);
    expect(Object.isFrozen(resolved.stabilization)).toBe(true);
  });

  it('derives the node key from the node name as Go flow does', () => {
    expect(resolveBrokerOptions({ nodeName: 'node-1' }).nodeKey.toString()).toBe('d1601808ef7260a1');
  });

  it('takes an explicit node key as a Key or as 16 hex digits, in either case', () => {
    const key = keyFromString('node-2');
    expect(resolveBrokerOptions({ nodeKey: key }).nodeKey).toBe(key);
    expect(resolveBrokerOptions({ nodeKey: 'E7861286892AD262' }).nodeKey).toEqual(parseKey('e7861286892ad262'));
  });

  it('draws a random node key when given neither a key nor a name', () => {
    const keys = new Set(Array.from({ length: 20 }, () => resolveBrokerOptions().nodeKey.toString()));
    expect(keys.size).toBe(20);
  });

  it('keeps the values it was given, including 0 where 0 means off', () => {
    const clock = new ManualClock();
    const onError = (): void => undefined;
    const resolved = resolveBrokerOptions({
      clique: 'payments',
      virtualNodes: 1,
      ackTimeout: 1,
      stabilization: { interval: 0, stabilizers: 0 },
      syncPartitions: 0,
      onError,
      clock,
    });
    expect(resolved).toMatchObject({ clique: 'payments', virtualNodes: 1, ackTimeout: 1, onError, clock });
    expect(resolved.stabilization).toEqual({ interval: 0, successors: 5, stabilizers: 0 });
  });

  const invalid: [string, BrokerOptions, string, unknown][] = [
    ['an empty clique', { clique: '' }, 'clique', ''],
    ['a clique with a wildcard', { clique: 'a.*' }, 'clique', 'a.*'],
    ['a clique with a space', { clique: 'my clique' }, 'clique', 'my clique'],
    ['nodeKey together with nodeName', { nodeKey: 'd1601808ef7260a1', nodeName: 'node-1' }, 'nodeName', 'node-1'],
    ['a node key that is not hex', { nodeKey: 'zz601808ef7260a1' }, 'nodeKey', 'zz601808ef7260a1'],
    ['a node key of 15 hex digits', { nodeKey: 'd1601808ef7260a' }, 'nodeKey', 'd1601808ef7260a'],
    ['a node key of 17 hex digits', { nodeKey: 'd1601808ef7260a10' }, 'nodeKey', 'd1601808ef7260a10'],
    ['an empty node name', { nodeName: '' }, 'nodeName', ''],
    ['ackTimeout 0', { ackTimeout: 0 }, 'ackTimeout', 0],
    ['ackTimeout -1', { ackTimeout: -1 }, 'ackTimeout', -1],
    ['ackTimeout 1.5', { ackTimeout: 1.5 }, 'ackTimeout', 1.5],
    ['ackTimeout NaN', { ackTimeout: NaN }, 'ackTimeout', NaN],
    ['ackTimeout beyond a 32-bit timer', { ackTimeout: LIMITS.timeoutMs + 1 }, 'ackTimeout', LIMITS.timeoutMs + 1],
    ['requestTimeout 0', { requestTimeout: 0 }, 'requestTimeout', 0],
    ['virtualNodes 0', { virtualNodes: 0 }, 'virtualNodes', 0],
    ['virtualNodes above the limit', { virtualNodes: LIMITS.virtualNodes + 1 }, 'virtualNodes', LIMITS.virtualNodes + 1],
    ['stabilization.interval -1', { stabilization: { interval: -1 } }, 'stabilization.interval', -1],
    ['stabilization.successors 0', { stabilization: { successors: 0 } }, 'stabilization.successors', 0],
    ['stabilization.stabilizers -1', { stabilization: { stabilizers: -1 } }, 'stabilization.stabilizers', -1],
    ['concurrency 0', { concurrency: 0 }, 'concurrency', 0],
    ['syncPartitions -1', { syncPartitions: -1 }, 'syncPartitions', -1],
    ['maxPendingRequests 0', { maxPendingRequests: 0 }, 'maxPendingRequests', 0],
    ['maxInFlightForwards 0', { maxInFlightForwards: 0 }, 'maxInFlightForwards', 0],
    ['maxQueuedMessages 0', { maxQueuedMessages: 0 }, 'maxQueuedMessages', 0],
  ];

  it.each(invalid)('rejects %s, naming the option and the value', (_case, options, option, value) => {
    const error = invalidOption(() => resolveBrokerOptions(options));
    expect(error.code).toBe('FLOW_INVALID_OPTION');
    expect(error.option).toBe(option);
    expect(error.value).toBe(value);
    expect(error.message).toContain(option);
    expect(error.message).toContain(typeof value === 'string' ? JSON.stringify(value) : String(value));
  });

  it('rejects options of the wrong type, naming the option', () => {
    const cases: [unknown, string][] = [
      [{ virtualNodes: '4' }, 'virtualNodes'],
      [{ nodeKey: 42 }, 'nodeKey'],
      [{ codec: {} }, 'codec'],
      [{ onError: 'log' }, 'onError'],
      [{ clock: { now: () => 0 } }, 'clock'],
      [{ stabilization: 'often' }, 'stabilization'],
      ['not an object', 'options'],
    ];
    for (const [options, option] of cases) {
      expect(invalidOption(() => resolveBrokerOptions(options as BrokerOptions)).option).toBe(option);
    }
  });

  it('rejects invalid options when the broker is constructed', () => {
    const bus = new MemoryBus();
    expect(invalidOption(() => new Broker(bus.connect(), { ackTimeout: 0 })).option).toBe('ackTimeout');
  });
});

describe('handler registration', () => {
  const bus = new MemoryBus();
  const broker = new Broker(bus.connect(), { clique: 'shop', nodeName: 'node-1' });
  const handler = (): void => undefined;

  it('rejects an empty stream', () => {
    expect(invalidOption(() => broker.handle('', handler))).toMatchObject({ option: 'stream', value: '' });
    expect(invalidOption(() => broker.handleRequest('', () => new Uint8Array()))).toMatchObject({ option: 'stream' });
  });

  it('rejects a stream with a wildcard or a space', () => {
    expect(invalidOption(() => broker.handle('orders.*', handler)).value).toBe('orders.*');
    expect(invalidOption(() => broker.handle('orders >', handler)).value).toBe('orders >');
  });

  it('rejects a handler on the clique subject', () => {
    expect(invalidOption(() => broker.handle('shop', handler))).toMatchObject({ option: 'stream', value: 'shop' });
  });

  it('rejects a handler on a node subject, its own or another broker’s', () => {
    const own = `shop.${broker.nodeKey}`;
    expect(invalidOption(() => broker.handle(own, handler))).toMatchObject({ option: 'stream', value: own });
    const other = `shop.${keyFromString('node-2')}`;
    expect(invalidOption(() => broker.handleRequest(other, () => new Uint8Array())).value).toBe(other);
  });

  it('rejects a second handler for the same stream, of either kind', async () => {
    await broker.handle('orders', handler);
    expect(invalidOption(() => broker.handle('orders', handler))).toMatchObject({ option: 'stream', value: 'orders' });
    expect(invalidOption(() => broker.handleRequest('orders', () => new Uint8Array())).value).toBe('orders');
  });

  it('rejects a handler that is not a function', () => {
    expect(invalidOption(() => broker.handle('payments', 'nope' as never)).option).toBe('handler');
  });

  it('accepts a stream that merely starts with the clique name', async () => {
    await expect(broker.handle('shopping', handler)).resolves.toBeUndefined();
  });

  it('accepts streams below the clique subject that cannot be node subjects, as Go flow does', async () => {
    const interop = new Broker(bus.connect(), { clique: 'interop', nodeName: 'node-1' });
    await expect(interop.handle('interop.events', handler)).resolves.toBeUndefined();
    for (const stream of ['interop.events.created', 'interop.0123456789abcde', 'interop.0123456789abcdef0', 'interop.0123456789ABCDEF']) {
      await expect(interop.handleRequest(stream, () => new Uint8Array())).resolves.toBeUndefined();
    }
    expect(invalidOption(() => interop.handle('interop.0123456789abcdef', handler)).constraint).toContain('node subject');
    await interop.close();
  });
});

describe('resolveBrokerOptions: partitionHash', () => {
  it('defaults to standard murmur3 and derives node keys from names in that mode', () => {
    const resolved = resolveBrokerOptions({ nodeName: 'node-1' });
    expect(resolved.partitionHash).toBe('murmur3');
    expect(String(resolved.nodeKey)).toBe(String(keyFromString('node-1', 'murmur3')));
    expect(resolved.nodeKeyFrom).toBe('node-1');
  });

  it("keeps Go flow's node key for a name in go-flow mode", () => {
    const resolved = resolveBrokerOptions({ nodeName: 'node-1', partitionHash: 'go-flow' });
    expect(resolved.partitionHash).toBe('go-flow');
    expect(String(resolved.nodeKey)).toBe('d1601808ef7260a1');
  });

  it.each([['sha1'], [''], [1], [null]])('rejects partitionHash %p, naming the option', (value) => {
    expect(() => resolveBrokerOptions({ partitionHash: value as never })).toThrow(/partitionHash: must be one of 'murmur3', 'go-flow'/);
  });
});
