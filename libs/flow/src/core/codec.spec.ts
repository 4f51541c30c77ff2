import { CodecError, ErrorCode } from './errors';
import { DefaultCodec, StreamMessage } from './codec';
import { fromHex, loadGoVectors, toHex } from '../../test/go-vectors';
import { seededRandom } from '../testing/seeded-random';

const vectors = loadGoVectors();
const utf8 = new TextEncoder();
const codec = new DefaultCodec();

/** What each Go vector encodes, written out from its description. */
const expectedByDesc: Record<string, StreamMessage> = {
  'stream=orders pkey=customer-42 data=hello': {
    stream: 'orders',
    partitionKey: utf8.encode('customer-42'),
    data: utf8.encode('hello'),
  },
  'stream=s no pkey no data': { stream: 's', partitionKey: new Uint8Array(0), data: new Uint8Array(0) },
};

function plain(msg: StreamMessage): { stream: string; partitionKey: string; data: string } {
  return { stream: msg.stream, partitionKey: toHex(msg.partitionKey), data: toHex(msg.data) };
}

function codecError(run: () => unknown): CodecError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(CodecError);
    expect((error as CodecError).code).toBe(ErrorCode.Codec);
    return error as CodecError;
  }
  throw new Error('expected a CodecError, but nothing was thrown');
}

describe('DefaultCodec', () => {
  it('has an expectation for every Go vector', () => {
    expect(vectors.defaultCodec.filter((v) => expectedByDesc[v.desc] === undefined).map((v) => v.desc)).toEqual([]);
  });

  it.each(vectors.defaultCodec.map((v) => [v.desc, v.hex]))('encodes %s byte for byte as Go flow', (desc, hex) => {
    expect(toHex(codec.encode(expectedByDesc[desc]))).toBe(hex);
  });

  it.each(vectors.defaultCodec.map((v) => [v.desc, v.hex]))('decodes %s into its fields', (desc, hex) => {
    expect(plain(codec.decode('subject', fromHex(hex)))).toEqual(plain(expectedByDesc[desc]));
  });

  it('takes the stream from the subject when the encoded stream is empty', () => {
    const bytes = codec.encode({ stream: '', partitionKey: utf8.encode('k'), data: utf8.encode('d') });
    expect(toHex(bytes)).toBe('00000000' + '00000001' + '6b' + '64');
    expect(codec.decode('payments', bytes).stream).toBe('payments');
  });

  it('round-trips non-ASCII stream names by their UTF-8 byte length', () => {
    const msg = { stream: 'zählung.✓.🚀', partitionKey: new Uint8Array([0, 255]), data: new Uint8Array([1, 2, 3]) };
    const bytes = codec.encode(msg);
    expect(bytes.length).toBe(8 + utf8.encode(msg.stream).length + 2 + 3);
    expect(plain(codec.decode('ignored', bytes))).toEqual(plain(msg));
  });

  it('returns partition key and data as views into the input', () => {
    const bytes = fromHex(vectors.defaultCodec[0].hex);
    const msg = codec.decode('orders', bytes);
    expect(msg.data.buffer).toBe(bytes.buffer);
    expect(msg.partitionKey.buffer).toBe(bytes.buffer);
  });

  it('rejects every truncation of a vector that cuts into its stream or partition key', () => {
    const bytes = fromHex(vectors.defaultCodec[0].hex);
    const dataStart = bytes.length - 'hello'.length;
    for (let length = 0; length < dataStart; length++) {
      const error = codecError(() => codec.decode('orders', bytes.subarray(0, length)));
      expect(error.subject).toBe('orders');
    }
    for (let length = dataStart; length <= bytes.length; length++) {
      expect(toHex(codec.decode('orders', bytes.subarray(0, length)).data)).toBe(toHex(bytes.subarray(dataStart, length)));
    }
  });

  it('rejects length fields beyond the bytes present, naming the field and the values', () => {
    const bytes = fromHex(vectors.defaultCodec[0].hex);
    const withU32 = (offset: number, value: number) => {
      const copy = bytes.slice();
      new DataView(copy.buffer).setUint32(offset, value);
      return copy;
    };
    expect(codecError(() => codec.decode('orders', withU32(0, 0xffffffff))).message).toBe(
      `cannot decode stream message on "orders": stream length 4294967295 exceeds the ${bytes.length - 4} bytes left`,
    );
    expect(codecError(() => codec.decode('orders', withU32(10, 17))).message).toContain(
      'partition key length 17 exceeds the 16 bytes left',
    );
  });

  it.each([[undefined], [null], ['bytes'], [new ArrayBuffer(8)]])('rejects the non-byte-array input %p', (input) => {
    codecError(() => codec.decode('s', input as unknown as Uint8Array));
  });

  it('either decodes or throws a CodecError for 5,000 random and mutated buffers', () => {
    const random = seededRandom(0xc0dec);
    const valid = vectors.defaultCodec.map((v) => fromHex(v.hex));
    const failures: string[] = [];
    let decoded = 0;
    for (let i = 0; i < 5000 && failures.length < 5; i++) {
      let input: Uint8Array;
      if (i % 2 === 0) {
        // Frequent zero bytes make short, fitting length fields (and so successful decodes) common.
        input = Uint8Array.from({ length: random.int(40) }, () => (random.int(4) === 0 ? 0 : random.int(256)));
      } else {
        input = valid[random.int(valid.length)].slice(0, 1 + random.int(40));
        if (input.length > 0) input[random.int(input.length)] = random.int(256);
      }
      try {
        const msg = codec.decode('fuzz', input);
        decoded++;
        if (msg.partitionKey.length + msg.data.length > input.length) failures.push(`case ${i}: fields exceed input`);
      } catch (error) {
        if (!(error instanceof CodecError)) failures.push(`case ${i}: ${String(error)} from ${toHex(input)}`);
      }
    }
    expect(failures).toEqual([]);
    expect(decoded).toBeGreaterThan(250);
  });
});
