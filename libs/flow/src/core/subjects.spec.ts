import { InvalidOptionError } from './errors';
import { checkStream, partitionKeyBytes } from './subjects';

describe('partitionKeyBytes', () => {
  const encoder = new TextEncoder();

  it.each([
    ['empty', ''],
    ['ascii', 'customer-42'],
    ['long ascii', 'k'.repeat(200)],
    ['two-byte', 'Zürich'],
    ['three-byte', '東京'],
    ['surrogate pair', 'a\u{1F600}b'],
    ['lone high surrogate', 'a\ud800b'],
    ['lone low surrogate at the end', 'ab\udc00'],
  ])('encodes a %s key exactly as TextEncoder does', (_name, key) => {
    expect(partitionKeyBytes(key)).toEqual(encoder.encode(key));
  });

  it('passes bytes through and gives no key as empty bytes', () => {
    const bytes = Uint8Array.of(1, 2, 3);
    expect(partitionKeyBytes(bytes)).toBe(bytes);
    expect(partitionKeyBytes(undefined)).toHaveLength(0);
  });

  it('refuses anything else, naming the option', () => {
    expect(() => partitionKeyBytes(42 as unknown as string)).toThrow(InvalidOptionError);
    expect(() => partitionKeyBytes(42 as unknown as string)).toThrow(/key/);
  });
});

describe('checkStream', () => {
  it('passes a stream it passed before and refuses an invalid one after it, every time', () => {
    for (let i = 0; i < 3; i++) {
      expect(checkStream('orders')).toBe('orders');
      expect(checkStream('orders')).toBe('orders');
      for (const bad of ['', 'or ders', 'orders.*', 'orders.>', undefined, 7]) {
        expect(() => checkStream(bad as string)).toThrow(InvalidOptionError);
      }
      expect(checkStream('payments')).toBe('payments');
    }
  });
});
