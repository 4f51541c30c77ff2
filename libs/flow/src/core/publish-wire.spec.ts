import { ProtocolError } from './errors';
import { decodeFrame, FrameType, FwdFrame } from './frame';
import { keyFromString } from './key';
import { appendRefuser, encodePublishFwd, PublishFlags, readFloor, readPredecessor, readPublishFlags, readRefuser, retrailPublishFwd, trailerAt } from './publish-wire';
import { errorReply } from './error-reply';
import { encodeFrame } from './frame';

const utf8 = new TextEncoder();
const allocate = (n: number): Uint8Array => new Uint8Array(n);
const fwd: FwdFrame = {
  type: FrameType.Fwd,
  id: 41,
  ackTo: keyFromString('publisher'),
  msg: { id: 0, stream: 'orders', reply: '', partitionKey: utf8.encode('k'), data: utf8.encode('payload') },
};

describe('publish FWD trailer', () => {
  it('carries the predecessor and the floor each behind its flag, and a Go reader sees the same FWD', () => {
    for (const [after, floor] of [
      [undefined, undefined],
      [17, undefined],
      [undefined, 9],
      [17, 9],
      [2n ** 60n, 2 ** 52],
    ] as const) {
      const data = encodePublishFwd(fwd, PublishFlags.Notices, allocate, after, floor);
      const flags = readPublishFlags(data)!;
      expect(flags & PublishFlags.Notices).toBe(PublishFlags.Notices);
      expect((flags & PublishFlags.Follows) !== 0).toBe(after !== undefined);
      expect((flags & PublishFlags.Floor) !== 0).toBe(floor !== undefined);
      if (after !== undefined) expect(readPredecessor(data)).toBe(after);
      if (floor !== undefined) expect(readFloor(data, flags)).toBe(floor);
      expect(data.length - trailerAt(data)).toBe(5 + (after === undefined ? 0 : 8) + (floor === undefined ? 0 : 8));
      // The frame before the trailer is Go's FWD, unchanged.
      const frame = decodeFrame(data) as FwdFrame;
      expect(frame.id).toBe(41);
      expect(frame.msg.data).toEqual(fwd.msg.data);
    }
  });

  it('flags only what is there, whatever the caller passed', () => {
    const data = encodePublishFwd(fwd, PublishFlags.Notices | PublishFlags.Follows | PublishFlags.Floor, allocate);
    expect(readPublishFlags(data)).toBe(PublishFlags.Notices);
  });

  it('sends again with a new predecessor and floor in place of the old ones', () => {
    const first = encodePublishFwd(fwd, PublishFlags.Notices, allocate, 17, 9);
    const again = retrailPublishFwd(first, PublishFlags.Notices, allocate, undefined, 30);
    const flags = readPublishFlags(again)!;
    expect(flags & PublishFlags.Follows).toBe(0);
    expect(readFloor(again, flags)).toBe(30);
    expect(again.length).toBe(first.length - 8);
    expect((decodeFrame(again) as FwdFrame).msg.data).toEqual(fwd.msg.data);
  });

  it('refuses a floor flag without its 8 bytes, with or without a predecessor before it', () => {
    for (const after of [undefined, 17]) {
      const data = encodePublishFwd(fwd, PublishFlags.Notices, allocate, after, 9);
      const cut = data.subarray(0, data.length - 1);
      expect(() => readFloor(cut, readPublishFlags(cut)!)).toThrow(ProtocolError);
    }
  });
});

describe('the refuser an ERR names', () => {
  const err = (): Uint8Array => encodeFrame(errorReply(7, new ProtocolError('x', 'refused')));

  it('reads back the broker appended after an ERR, which still decodes as the same ERR', () => {
    const named = appendRefuser(err(), { node: keyFromString('owner'), virtualNodes: 256 });
    expect(decodeFrame(named)).toEqual(decodeFrame(err()));
    const refuser = readRefuser(named);
    expect(refuser?.node.equals(keyFromString('owner'))).toBe(true);
    expect(refuser?.virtualNodes).toBe(256);
  });

  it('reads none from a plain ERR (Go, older Flow), and refuses a truncated one', () => {
    expect(readRefuser(err())).toBeUndefined();
    const named = appendRefuser(err(), { node: keyFromString('owner'), virtualNodes: 4 });
    expect(() => readRefuser(named.subarray(0, named.length - 3))).toThrow(ProtocolError);
  });
});
