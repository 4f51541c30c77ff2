import { ErrorCode, ProtocolError } from './errors';
import { fromHex, loadGoVectors } from '../../test/go-vectors';
import { Key, KEY_SIZE, keyFromBytes, keyFromString, parseKey, randomKey } from './key';

const vectors = loadGoVectors();

function expectProtocolError(run: () => unknown): void {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(ProtocolError);
  expect((thrown as ProtocolError).code).toBe(ErrorCode.Protocol);
}

describe('keyFromString', () => {
  it.each(vectors.keyFromBytes.map((v) => [v.input, v.key]))('gives %j the Go flow key %s', (input, key) => {
    expect(String(keyFromString(input as string, 'go-flow'))).toBe(key);
  });
});

describe('keyFromBytes', () => {
  it.each(vectors.keyFromBinary.map((v) => [v.input_hex, v.key]))('gives bytes %s the Go flow key %s', (hex, key) => {
    expect(keyFromBytes(fromHex(hex), 'go-flow').toString()).toBe(key);
  });
});

describe('node subjects', () => {
  it.each(vectors.nodeStream.map((v) => [v.clique, v.node, v.subject]))(
    'names the node subject of %s / %s as Go flow does (%s)',
    (clique, node, subject) => {
      expect(`${clique}.${keyFromString(node, 'go-flow')}`).toBe(subject);
    },
  );
});

describe('Key', () => {
  it('prints exactly 16 lowercase hex digits, zero-padded', () => {
    expect(String(new Key(0, 1))).toBe('0000000000000001');
    expect(String(new Key(0xabcdef01, 0x00000a0b))).toBe('abcdef0100000a0b');
    expect(JSON.stringify({ key: new Key(0xffffffff, 0xffffffff) })).toBe('{"key":"ffffffffffffffff"}');
  });

  it('sorts by the unsigned 64-bit value, high half first', () => {
    const keys = [new Key(0xffffffff, 0), new Key(0, 0xffffffff), new Key(1, 0), new Key(0, 0), new Key(0x80000000, 1)];
    const sorted = [...keys].sort((a, b) => a.compare(b)).map(String);
    expect(sorted).toEqual([
      '0000000000000000',
      '00000000ffffffff',
      '0000000100000000',
      '8000000000000001',
      'ffffffff00000000',
    ]);
    expect(new Key(5, 6).compare(new Key(5, 6))).toBe(0);
  });

  it('is equal to another key with the same halves only', () => {
    expect(new Key(1, 2).equals(new Key(1, 2))).toBe(true);
    expect(new Key(1, 2).equals(new Key(2, 1))).toBe(false);
    expect(new Key(1, 2).equals(new Key(1, 3))).toBe(false);
  });

  it('computes the 64-bit value modulo m as BigInt arithmetic does', () => {
    const keys = [...vectors.keyFromBinary.map((v) => parseKey(v.key)), new Key(0xffffffff, 0xffffffff)];
    for (const m of [1, 2, 3, 7, 64, 1000, 65521, (1 << 21) - 1]) {
      for (const key of keys) expect(key.mod(m)).toBe(Number(key.toBigInt() % BigInt(m)));
    }
  });

  it('writes and reads its 8 big-endian bytes at an offset', () => {
    const key = parseKey('0102030405060708');
    const bytes = new Uint8Array(KEY_SIZE + 3);
    key.write(bytes, 2);
    expect(Array.from(bytes)).toEqual([0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0]);
    expect(Key.read(bytes, 2).equals(key)).toBe(true);
  });
});

describe('parseKey', () => {
  it('round-trips the text form of every vector key, accepting upper case', () => {
    for (const v of vectors.keyFromBinary) {
      expect(String(parseKey(v.key))).toBe(v.key);
      expect(String(parseKey(v.key.toUpperCase()))).toBe(v.key);
    }
  });

  it.each([
    ['15 digits', 'd1601808ef7260a'],
    ['17 digits', 'd1601808ef7260a10'],
    ['a non-hex digit', 'd1601808ef7260ag'],
    ['surrounding spaces', ' d1601808ef7260a1 '],
    ['a 0x prefix', '0xd1601808ef7260'],
    ['the empty string', ''],
  ])('rejects %s with a ProtocolError', (_what, text) => {
    expectProtocolError(() => parseKey(text));
  });

  it.each([[123], [null], [undefined], [{}], [12345678901234567n]])('rejects the non-string %p with a ProtocolError', (value) => {
    expectProtocolError(() => parseKey(value as unknown as string));
  });

  it('names the rejected text in the error message', () => {
    expect(() => parseKey('xyz')).toThrow('"xyz"');
  });
});

describe('randomKey', () => {
  it('gives distinct keys', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) seen.add(String(randomKey()));
    expect(seen.size).toBe(1000);
  });
});

describe('partition hash modes', () => {
  const orderKeys = Array.from({ length: 10_000 }, (_, i) => `order-2026-11-30-${String(100_000_000_000_000 + i * 7919)}`);

  it('gives 10,000 distinct hashes for 10,000 32-byte order keys by default, and one in go-flow mode', () => {
    for (const key of orderKeys) expect(new TextEncoder().encode(key)).toHaveLength(32);
    const standard = new Set(orderKeys.map((key) => String(keyFromString(key))));
    const goFlow = new Set(orderKeys.map((key) => String(keyFromString(key, 'go-flow'))));
    expect(standard.size).toBe(10_000);
    // Go flow's variant never reads bytes 24..31, where these keys differ.
    expect(goFlow.size).toBe(1);
  });

  it('gives distinct node keys to statefulset pod names that differ only in bytes 24..31 by default', () => {
    const names = ['ledger-worker-statefulset-pod-01', 'ledger-worker-statefulset-pod-02', 'ledger-worker-statefulset-pod-03'];
    expect(new Set(names.map((name) => String(keyFromString(name)))).size).toBe(3);
    expect(new Set(names.map((name) => String(keyFromString(name, 'go-flow')))).size).toBe(1);
  });

  it('hashes in standard MurmurHash3 unless go-flow is asked for', () => {
    expect(String(keyFromString('hello'))).toBe('cbd8a7b341bd9b02');
    expect(String(keyFromString('hello', 'murmur3'))).toBe('cbd8a7b341bd9b02');
    // The modes agree below 16 bytes (no body block, and the tail is folded alike).
    expect(String(keyFromString('node-1'))).toBe('d1601808ef7260a1');
    expect(String(keyFromString('0123456789abcdef', 'go-flow'))).toBe('76f4ba5ee96e2167');
    expect(String(keyFromString('0123456789abcdef'))).not.toBe('76f4ba5ee96e2167');
  });
});
