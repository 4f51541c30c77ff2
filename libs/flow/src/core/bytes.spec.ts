import {
  fieldEnd,
  fieldOverrun,
  quoteBytes,
  readU32,
  readU64,
  readUtf8,
  utf8Length,
  view,
  writeBytesField,
  writeTextField,
  writeU32,
  writeU64,
  writeUtf8,
} from './bytes';

const encoder = new TextEncoder();

/** Every string of up to three units from an alphabet at the UTF-8 size boundaries. */
function trickyStrings(): string[] {
  const units = ['a', '\x7f', '\x80', '\xe9', '\u07ff', '\u0800', '\u2713', '\ud83d', '\ude80', '\uffff'];
  const out = [''];
  for (const a of units) {
    out.push(a);
    for (const b of units) {
      out.push(a + b);
      for (const c of units) out.push(a + b + c);
    }
  }
  return out;
}

describe('UTF-8 helpers', () => {
  it('measure and write exactly what TextEncoder produces, lone surrogates included', () => {
    for (const s of [...trickyStrings(), 'x'.repeat(100), 'ü'.repeat(40) + '🚀']) {
      const expected = encoder.encode(s);
      expect(utf8Length(s)).toBe(expected.length);
      const out = new Uint8Array(expected.length + 2).fill(0xaa);
      writeUtf8(s, out, 1, expected.length);
      expect(Array.from(out)).toEqual([0xaa, ...expected, 0xaa]);
    }
  });

  it('read back well-formed text on both the short and the long path', () => {
    for (const s of ['', 'orders', 'zählung', '_global.d1601808ef7260a1', '🚀✓', 'ä'.repeat(30)]) {
      const bytes = new Uint8Array([1, ...encoder.encode(s), 2]);
      expect(readUtf8(bytes, 1, bytes.length - 1)).toBe(s);
    }
  });

  it('turn invalid sequences into U+FFFD and keep a leading byte-order mark', () => {
    expect(readUtf8(new Uint8Array([0x61, 0xff, 0x62]), 0, 3)).toBe('a\ufffdb');
    expect(readUtf8(new Uint8Array(20).fill(0xc3), 0, 20)).toBe('\ufffd'.repeat(20));
    expect(readUtf8(new Uint8Array([0xef, 0xbb, 0xbf, 0x61]), 0, 4)).toBe('\ufeffa');
  });
});

describe('big-endian integers', () => {
  it('write and read u32 values at an offset', () => {
    const bytes = new Uint8Array(6);
    for (const value of [0, 1, 0x7fffffff, 0x80000000, 0xdeadbeef, 0xffffffff]) {
      writeU32(bytes, 1, value);
      expect(readU32(bytes, 1)).toBe(value);
    }
    writeU32(bytes, 1, 0x01020304);
    expect(Array.from(bytes)).toEqual([0, 1, 2, 3, 4, 0]);
  });

  it('write and read u64 values exactly: numbers up to 2^53 - 1, bigints from 2^53 to 2^64 - 1', () => {
    const bytes = new Uint8Array(8);
    for (const value of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 7, Number.MAX_SAFE_INTEGER]) {
      writeU64(bytes, 0, value);
      expect(readU64(bytes, 0)).toBe(value);
    }
    for (const value of [2n ** 53n, 2n ** 53n + 1n, 2n ** 60n, 2n ** 64n - 1n]) {
      writeU64(bytes, 0, value);
      expect(readU64(bytes, 0)).toBe(value);
    }
    writeU64(bytes, 0, 2 ** 32 + 2);
    expect(Array.from(bytes)).toEqual([0, 0, 0, 1, 0, 0, 0, 2]);
  });
});

describe('length-prefixed fields', () => {
  it('write a text field and a bytes field back to back', () => {
    const bytes = new Uint8Array(4 + 2 + 4 + 3);
    const at = writeTextField(bytes, 0, 'ü', 2);
    expect(at).toBe(6);
    expect(writeBytesField(bytes, at, new Uint8Array([7, 8, 9]))).toBe(13);
    expect(Array.from(bytes)).toEqual([0, 0, 0, 2, 0xc3, 0xbc, 0, 0, 0, 3, 7, 8, 9]);
  });

  it('end where their length says when it fits before the end, and report -1 otherwise', () => {
    const bytes = new Uint8Array([0, 0, 0, 2, 0xaa, 0xbb, 0xcc]);
    expect(fieldEnd(bytes, 0, 7)).toBe(6);
    expect(fieldEnd(bytes, 0, 6)).toBe(6);
    expect(fieldEnd(bytes, 0, 5)).toBe(-1);
    expect(fieldEnd(bytes, 4, 7)).toBe(-1); // only 3 bytes for the length
    expect(fieldEnd(new Uint8Array([0xff, 0xff, 0xff, 0xff]), 0, 4)).toBe(-1);
  });

  it('explain an overrun with the field name, the claimed length and the bytes left', () => {
    const bytes = new Uint8Array([0, 0, 0, 9, 1, 2]);
    expect(fieldOverrun(bytes, 0, 6, 'stream')).toBe('stream length 9 exceeds the 2 bytes left');
    expect(fieldOverrun(bytes, 3, 6, 'stream')).toBe('stream length is cut off: 3 of 4 bytes at offset 3');
  });
});

describe('view', () => {
  it('is bytes [start, end) of an array that starts inside its buffer, sharing its memory', () => {
    const backing = new Uint8Array(32).map((_, i) => i);
    const outer = Buffer.from(backing.buffer, 8, 16);
    const inner = view(outer, 3, 7);
    expect(Object.getPrototypeOf(inner)).toBe(Uint8Array.prototype);
    expect(Array.from(inner)).toEqual([11, 12, 13, 14]);
    backing[12] = 99;
    expect(inner[1]).toBe(99);
    expect(view(outer, 5, 5).length).toBe(0);
  });
});

describe('quoteBytes', () => {
  it('quotes UTF-8 as a JSON string, anything else as hex, and cuts what is longer than asked', () => {
    expect(quoteBytes(encoder.encode('customer-7'), 64)).toBe('"customer-7"');
    expect(quoteBytes(encoder.encode('say "hi"\n'), 64)).toBe('"say \\"hi\\"\\n"');
    expect(quoteBytes(new Uint8Array([0xc3, 0x28, 0x00, 0xff]), 64)).toBe('0xc32800ff');
    expect(quoteBytes(encoder.encode('x'.repeat(100)), 10)).toBe(`"${'x'.repeat(9)}... (100 bytes)`);
    expect(quoteBytes(new Uint8Array(40).fill(0xff), 8)).toBe('0xffffff... (40 bytes)');
  });
});
