import { CodecError } from '../core';
import { JsonFlowDeserializer, JsonFlowSerializer } from './flow.serializer';

const serializer = new JsonFlowSerializer();
const deserializer = new JsonFlowDeserializer();
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe('JsonFlowSerializer', () => {
  it('writes values as UTF-8 JSON', () => {
    expect(text(serializer.serialize({ account: 'ü-1', amount: 5 }))).toBe('{"account":"ü-1","amount":5}');
    expect(text(serializer.serialize('plain'))).toBe('"plain"');
    expect(text(serializer.serialize(null))).toBe('null');
  });

  it('passes a Uint8Array or Buffer through untouched, as the same bytes', () => {
    const bytes = new Uint8Array([0, 255, 10]);
    const buffer = Buffer.from([1, 2, 3]);
    expect(serializer.serialize(bytes)).toBe(bytes);
    expect(serializer.serialize(buffer)).toBe(buffer);
  });

  it('writes the same bytes as TextEncoder, short or long, as a plain Uint8Array of its own length', () => {
    const values = [{ a: 'ü€😀' }, 'x'.repeat(10_000), ['\ud800 lone', 'ß'], 12.5];
    for (const value of values) {
      const bytes = serializer.serialize(value);
      expect(bytes.constructor).toBe(Uint8Array);
      expect(Buffer.isBuffer(bytes)).toBe(false);
      expect(Array.from(bytes)).toEqual(Array.from(new TextEncoder().encode(JSON.stringify(value))));
    }
  });

  it('writes undefined (a handler returning nothing) as zero bytes', () => {
    expect(serializer.serialize(undefined)).toHaveLength(0);
  });
});

describe('JsonFlowDeserializer', () => {
  it('reads what the serializer wrote', () => {
    const value = { account: 'ü-1', amounts: [1, 2], nested: { ok: true } };
    expect(deserializer.deserialize(serializer.serialize(value))).toEqual(value);
  });

  it('reads zero bytes as undefined', () => {
    expect(deserializer.deserialize(new Uint8Array(0))).toBeUndefined();
  });

  it('rejects bytes that are not UTF-8 JSON with a CodecError naming the stream', () => {
    for (const bytes of [new Uint8Array([0xff, 0xfe]), new TextEncoder().encode('{not json')]) {
      expect(() => deserializer.deserialize(bytes, { stream: 'deposits' })).toThrow(CodecError);
      expect(() => deserializer.deserialize(bytes, { stream: 'deposits' })).toThrow(
        'cannot decode stream message on "deposits": payload is not UTF-8 JSON',
      );
    }
  });
});
