import { DecodeCache } from './decode-cache';
import { ErrorCode, ProtocolError } from './errors';
import {
  decodeFrame,
  encodeFrame,
  Frame,
  FRAME_HEADER_SIZE,
  FrameType,
  MsgPayload,
} from './frame';
import { keyFromString, parseKey } from './key';
import { fromHex, loadGoVectors, toHex } from '../../test/go-vectors';

const vectors = loadGoVectors();
const utf8 = new TextEncoder();
const node = (n: number) => keyFromString(`node-${n}`);

const requestMsg: MsgPayload = {
  id: 7,
  reply: `_global.${node(1)}`,
  stream: 'orders',
  partitionKey: utf8.encode('customer-42'),
  data: utf8.encode('{"amount":10}'),
};

/** What each Go vector encodes, written out from its description. */
const expectedByDesc: Record<string, Frame> = {
  'join sender=node-1': { type: 'JOIN', sender: node(1) },
  'leave node=node-2': { type: 'LEAV', node: node(2) },
  'info id=3 neighbors=[node-1,node-2,node-3]': { type: 'INFO', id: 3, neighbours: [node(1), node(2), node(3)] },
  'info id=0 neighbors=[]': { type: 'INFO', id: 0, neighbours: [] },
  'ping id=9 sender=node-3': { type: 'PING', id: 9, sender: node(3) },
  'msg id=7 reply=_global.<node-1> stream=orders pkey=customer-42 data={"amount":10}': { type: 'MSG ', msg: requestMsg },
  'msg id=0 no reply stream=s no pkey no data': {
    type: 'MSG ',
    msg: { id: 0, reply: '', stream: 's', partitionKey: new Uint8Array(0), data: new Uint8Array(0) },
  },
  'fwd id=11 ack=node-2 msg=(the msg id=7 above)': { type: 'FWD ', id: 11, ackTo: node(2), msg: requestMsg },
  'ack id=7 data=pong': { type: 'ACK ', id: 7, data: utf8.encode('pong') },
  'ack id=12 no data': { type: 'ACK ', id: 12, data: new Uint8Array(0) },
};

const errFrame: Frame = {
  type: 'ERR ',
  id: 42,
  code: 'ORDER_REJECTED',
  message: 'amount must be positive',
  details: '{"status":400,"messages":["amount must be positive"]}',
};

/** Keys as text and bytes as hex, so that comparisons and failures read plainly. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return `hex:${toHex(value)}`;
  if (value !== null && typeof value === 'object' && 'hi' in value && 'lo' in value) return `key:${String(value)}`;
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

function protocolError(run: () => unknown): ProtocolError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).code).toBe(ErrorCode.Protocol);
    return error as ProtocolError;
  }
  throw new Error('expected a ProtocolError, but nothing was thrown');
}

/** `bytes` with the u32 at `offset` replaced. */
function withU32(bytes: Uint8Array, offset: number, value: number): Uint8Array {
  const copy = bytes.slice();
  new DataView(copy.buffer).setUint32(offset, value);
  return copy;
}

/** The frame cut to a `payloadLength`-byte payload, with the header saying so. */
function cutPayload(bytes: Uint8Array, payloadLength: number): Uint8Array {
  return withU32(bytes, 8, payloadLength).subarray(0, FRAME_HEADER_SIZE + payloadLength);
}

/** Whether a payload of `length` bytes, cut from `frame`'s, still makes a valid frame. */
function validCut(frame: Frame, fullLength: number, length: number): boolean {
  switch (frame.type) {
    case 'JOIN':
    case 'LEAV':
    case 'PING':
      return length === fullLength;
    case 'INFO':
      return length >= 8 && length % 8 === 0;
    case 'ACK ':
      return length >= 8;
    case 'MSG ':
    case 'FWD ':
      return length >= fullLength - frame.msg.data.length;
    case 'ERR ':
      return length >= fullLength - utf8.encode(frame.details).length;
  }
}

const goFrames = vectors.frames.map((v) => ({ ...v, frame: expectedByDesc[v.desc], bytes: fromHex(v.hex) }));
const msgVector = goFrames.find((v) => v.desc.startsWith('msg id=7'))!;
const fwdVector = goFrames.find((v) => v.desc.startsWith('fwd id=11'))!;
const allFrames = [...goFrames, { desc: 'err id=42 with details', type: 'ERR', frame: errFrame, bytes: encodeFrame(errFrame) }];

describe('frames against the Go vectors', () => {
  it('has an expectation for every vector', () => {
    expect(vectors.frames.filter((v) => expectedByDesc[v.desc] === undefined).map((v) => v.desc)).toEqual([]);
    expect(goFrames.length).toBe(Object.keys(expectedByDesc).length);
  });

  it.each(goFrames.map((v) => [v.desc, v]))('encodes %s byte for byte as Go flow', (_desc, v) => {
    expect(toHex(encodeFrame(v.frame))).toBe(v.hex);
  });

  it.each(goFrames.map((v) => [v.desc, v]))('decodes %s into its fields', (_desc, v) => {
    expect(plain(decodeFrame(v.bytes))).toEqual(plain(v.frame));
  });

});

describe('ERR frames', () => {
  it('lays out id, code, message and details as documented', () => {
    const bytes = encodeFrame({ type: 'ERR ', id: 1, code: 'E', message: 'no', details: '{}' });
    expect(toHex(bytes)).toBe(
      '00000001' + '45525220' + '00000015' + '0000000000000001' + '00000001' + '45' + '00000002' + '6e6f' + '7b7d',
    );
  });

  it('round-trips code, message and details, including non-ASCII text and empty details', () => {
    const frames: Frame[] = [
      errFrame,
      { type: 'ERR ', id: 0, code: '', message: '', details: '' },
      { type: 'ERR ', id: 9, code: 'FLOW_REMOTE', message: 'ünïcödé ✓ 🚀', details: '' },
    ];
    for (const frame of frames) expect(plain(decodeFrame(encodeFrame(frame)))).toEqual(plain(frame));
  });
});

describe('decodeFrame', () => {
  it.each(allFrames.map((v) => [v.desc, v]))('ignores bytes after the payload of %s', (_desc, v) => {
    const longer = new Uint8Array(v.bytes.length + 5).fill(0xab);
    longer.set(v.bytes);
    expect(plain(decodeFrame(longer))).toEqual(plain(v.frame));
  });

  it('reads a frame at the offset of a subarray view', () => {
    const v = msgVector;
    const padded = new Uint8Array(v.bytes.length + 7);
    padded.set(v.bytes, 3);
    expect(plain(decodeFrame(padded.subarray(3, 3 + v.bytes.length)))).toEqual(plain(v.frame));
  });

  it('accepts any version, as Go flow does', () => {
    expect(decodeFrame(withU32(goFrames[0].bytes, 0, 7)).type).toBe(FrameType.Join);
  });

  it.each(allFrames.map((v) => [v.desc, v]))('rejects %s cut off at every length', (_desc, v) => {
    for (let length = 0; length < v.bytes.length; length++) {
      protocolError(() => decodeFrame(v.bytes.subarray(0, length)));
    }
  });

  it.each(allFrames.map((v) => [v.desc, v]))(
    'rejects %s with a shorter payload length exactly when the shorter payload is malformed',
    (_desc, v) => {
      const full = v.bytes.length - FRAME_HEADER_SIZE;
      for (let length = 0; length < full; length++) {
        const cut = cutPayload(v.bytes, length);
        if (validCut(v.frame, full, length)) expect(decodeFrame(cut).type).toBe(v.frame.type);
        else protocolError(() => decodeFrame(cut));
      }
    },
  );

  it.each(allFrames.map((v) => [v.desc, v]))('rejects %s when the payload length exceeds the bytes present', (_desc, v) => {
    const present = v.bytes.length - FRAME_HEADER_SIZE;
    for (const claimed of [present + 1, 0x7fffffff, 0xffffffff]) {
      const error = protocolError(() => decodeFrame(withU32(v.bytes, 8, claimed)));
      expect(error.message).toContain(`payload length ${claimed} exceeds the ${present} bytes present`);
      expect(error.frameType).toBe(v.type);
    }
  });

  it.each([
    ['MSG', 'reply', 20],
    ['MSG', 'stream', 48],
    ['MSG', 'partition key', 58],
    ['FWD', 'reply', 36],
    ['FWD', 'stream', 64],
    ['FWD', 'partition key', 74],
  ])('rejects a %s whose %s length exceeds the bytes left', (type, field, offset) => {
    const bytes = type === 'MSG' ? msgVector.bytes : fwdVector.bytes;
    const left = bytes.length - offset - 4;
    for (const claimed of [left + 1, 0xffffffff]) {
      const error = protocolError(() => decodeFrame(withU32(bytes, offset, claimed)));
      expect(error.frameType).toBe(type);
      expect(error.message).toBe(`malformed ${type}: ${field} length ${claimed} exceeds the ${left} bytes left`);
    }
  });

  it.each([
    ['code', 20],
    ['message', 24 + 'ORDER_REJECTED'.length],
  ])('rejects an ERR whose %s length exceeds the bytes left', (field, offset) => {
    const bytes = encodeFrame(errFrame);
    const error = protocolError(() => decodeFrame(withU32(bytes, offset, 0xfffffff0)));
    expect(error.message).toContain(`${field} length 4294967280 exceeds`);
  });

  it.each([
    ['JOIN', 7],
    ['JOIN', 9],
    ['LEAV', 16],
    ['PING', 8],
    ['PING', 15],
    ['PING', 17],
    ['INFO', 4],
    ['INFO', 12],
    ['INFO', 23],
    ['ACK ', 7],
    ['FWD ', 15],
    ['MSG ', 19],
    ['ERR ', 15],
  ])('rejects a %s frame with a %i-byte payload', (type, payloadLength) => {
    const bytes = new Uint8Array(FRAME_HEADER_SIZE + payloadLength);
    bytes.set(utf8.encode(type), 4);
    bytes[11] = payloadLength;
    expect(protocolError(() => decodeFrame(bytes)).frameType).toBe(type.trimEnd());
  });

  it('rejects an unknown type, naming it as text or in hex', () => {
    const frame = goFrames[0].bytes;
    const printable = protocolError(() => decodeFrame(withU32(frame, 4, 0x4e4f5045))); // NOPE
    expect(printable.frameType).toBe('frame');
    expect(printable.message).toBe('malformed frame: unknown type "NOPE"');
    expect(protocolError(() => decodeFrame(withU32(frame, 4, 0x00ff0102))).message).toContain('unknown type 0x00ff0102');
  });

  it.each([[undefined], [null], ['JOIN'], [[0, 0, 0, 1]], [new ArrayBuffer(20)]])(
    'rejects the non-byte-array input %p with a ProtocolError',
    (input) => {
      protocolError(() => decodeFrame(input as unknown as Uint8Array));
    },
  );

  it('returns byte fields as views into the input, not copies', () => {
    const input = fwdVector.bytes.slice();
    const frame = decodeFrame(input) as Extract<Frame, { type: 'FWD ' }>;
    expect(frame.msg.data.buffer).toBe(input.buffer);
    input[input.length - 1] = 0x21; // '}' becomes '!'
    expect(new TextDecoder().decode(frame.msg.data)).toBe('{"amount":10!');
  });

  it('decodes a u64 id beyond 2^32 as a number and one from 2^53 on as an exact bigint', () => {
    const big = 2 ** 40 + 5;
    expect(decodeFrame(encodeFrame({ type: 'ACK ', id: big, data: new Uint8Array(0) }))).toMatchObject({ id: big });
    const foreign = fromHex('0000000141434b2000000008' + 'ffffffffffffffff');
    expect(decodeFrame(foreign)).toMatchObject({ id: 2n ** 64n - 1n });
    expect((decodeFrame(fromHex('0000000141434b2000000008' + '001fffffffffffff')) as { id: unknown }).id).toBe(2 ** 53 - 1);
    expect((decodeFrame(fromHex('0000000141434b2000000008' + '0020000000000000')) as { id: unknown }).id).toBe(2n ** 53n);
  });

  it.each([0n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 60n, 2n ** 64n - 1n])(
    're-encodes every frame type with the foreign id %p to the same bytes',
    (wide) => {
      const id = wide < 2n ** 53n ? Number(wide) : wide;
      const key = parseKey('d1601808ef7260a1');
      const msg = { ...requestMsg, id };
      const frames: Frame[] = [
        { type: 'INFO', id, neighbours: [key] },
        { type: 'PING', id, sender: key },
        { type: 'MSG ', msg },
        { type: 'FWD ', id, ackTo: key, msg },
        { type: 'ACK ', id, data: new Uint8Array([1]) },
        { type: 'ERR ', id, code: 'X', message: 'm', details: '' },
      ];
      for (const frame of frames) {
        const bytes = encodeFrame(frame);
        expect(toHex(bytes.subarray(12, 20))).toBe(wide.toString(16).padStart(16, '0'));
        const decoded = decodeFrame(bytes);
        expect(plain(decoded)).toEqual(plain(frame));
        expect(toHex(encodeFrame(decoded))).toBe(toHex(bytes));
      }
    },
  );
});

describe('encodeFrame', () => {
  it('writes ids as big-endian u64', () => {
    const bytes = encodeFrame({ type: 'PING', id: 2 ** 32 + 258, sender: parseKey('00000000000000ff') });
    expect(toHex(bytes.subarray(12))).toBe('0000000100000102' + '00000000000000ff');
  });

  it.each([[-1], [1.5], [2 ** 53], [Number.NaN], [Infinity], [-1n], [2n ** 64n]])('rejects the id %p with a ProtocolError', (id) => {
    const error = protocolError(() => encodeFrame({ type: 'ACK ', id, data: new Uint8Array(0) }));
    expect(error.message).toContain(`received ${id}`);
    protocolError(() => encodeFrame({ type: 'MSG ', msg: { ...requestMsg, id } }));
  });

  it('counts string lengths in UTF-8 bytes, surrogate pairs and lone surrogates included', () => {
    const msg: MsgPayload = { ...requestMsg, reply: 'ä✓🚀', stream: 'x\ud800y' };
    const bytes = encodeFrame({ type: 'MSG ', msg });
    expect(toHex(bytes.subarray(20, 24))).toBe('00000009'); // 2 + 3 + 4
    const decoded = decodeFrame(bytes) as Extract<Frame, { type: 'MSG ' }>;
    expect(decoded.msg.reply).toBe('ä✓🚀');
    expect(decoded.msg.stream).toBe('x\ufffdy');
  });

  it('sizes the array to the frame exactly', () => {
    for (const v of allFrames) {
      const bytes = encodeFrame(v.frame);
      expect(bytes.byteLength).toBe(bytes.buffer.byteLength);
      expect(bytes.length).toBe(FRAME_HEADER_SIZE + new DataView(bytes.buffer).getUint32(8));
    }
  });
});

describe('decodeFrame, repeated senders and stream names', () => {
  const fwd = (ackTo: number, stream: string, id = 1): Uint8Array =>
    encodeFrame({ type: 'FWD ', id, ackTo: node(ackTo), msg: { ...requestMsg, reply: '', stream } });
  const cache = new DecodeCache();
  const decoded = (bytes: Uint8Array): { ackTo: string; stream: string } => {
    const frame = decodeFrame(bytes, cache);
    if (frame.type !== 'FWD ') throw new Error(`decoded a ${frame.type}`);
    return { ackTo: frame.ackTo.toString(), stream: frame.msg.stream };
  };

  it('gives each FWD its own sender when senders alternate', () => {
    for (const n of [1, 2, 1, 1, 3, 2]) expect(decoded(fwd(n, 'orders')).ackTo).toBe(node(n).toString());
  });

  it('names each stream right when names share length, first and last byte, or are not ASCII, long or empty', () => {
    // 'a1z' and 'a2z' fall into one slot of the decoder's name cache; so do names 8 bytes longer with the same ends.
    const names = ['a1z', 'a2z', 'a1z', 'a123456789z', 'a2z', 'äöü', 'aöz', 'x'.repeat(65), 'x'.repeat(64), '', 'orders', 'a1z'];
    for (const stream of names) expect(decoded(fwd(1, stream)).stream).toBe(stream);
  });

  it("reuses one broker's sender and stream name objects, and not another broker's", () => {
    const mine = new DecodeCache();
    const theirs = new DecodeCache();
    const first = decodeFrame(fwd(1, 'orders', 1), mine);
    const second = decodeFrame(fwd(1, 'orders', 2), mine);
    const other = decodeFrame(fwd(1, 'orders', 3), theirs);
    const uncached = decodeFrame(fwd(1, 'orders', 4));
    if (first.type !== 'FWD ' || second.type !== 'FWD ' || other.type !== 'FWD ' || uncached.type !== 'FWD ') throw new Error('expected FWDs');
    expect(second.ackTo).toBe(first.ackTo);
    expect(other.ackTo).not.toBe(first.ackTo);
    expect(uncached.ackTo).not.toBe(first.ackTo);
    expect([other.ackTo.equals(first.ackTo), uncached.ackTo.equals(first.ackTo)]).toEqual([true, true]);
    expect([second.msg.stream, other.msg.stream, uncached.msg.stream]).toEqual(['orders', 'orders', 'orders']);
  });

  it('keeps a decoded name right after the bytes it came from change', () => {
    const bytes = fwd(1, 'payments');
    expect(decoded(bytes).stream).toBe('payments');
    const at = Buffer.from(bytes).indexOf('payments');
    bytes.set(utf8.encode('paiments'), at);
    expect(decoded(bytes).stream).toBe('paiments');
    expect(decoded(fwd(1, 'payments')).stream).toBe('payments');
  });
});
