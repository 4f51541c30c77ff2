import { fromHex, loadGoVectors } from '../../test/go-vectors';
import {
  Announcement,
  ANNOUNCEMENT_SIZE,
  appendAnnouncement,
  Capability,
  encodeAnnouncement,
  LOCAL_CAPABILITIES,
  readAnnouncement,
  supports,
} from './capabilities';
import { ProtocolError } from './errors';
import { decodeFrame, encodeFrame, FrameType } from './frame';
import { keyFromString, parseKey } from './key';

const announcement: Announcement = {
  nodeKey: parseKey('0123456789abcdef'),
  virtualNodes: 256,
  partitionHash: 'murmur3',
  capabilities: LOCAL_CAPABILITIES,
  instance: parseKey('fedcba9876543210'),
};

const join = encodeFrame({ type: FrameType.Join, sender: keyFromString('node-1', 'go-flow') });
const signedJoin = appendAnnouncement(join, encodeAnnouncement(announcement));

describe('capability announcements', () => {
  it('round-trips every field after a frame', () => {
    expect(signedJoin.length).toBe(join.length + ANNOUNCEMENT_SIZE);
    const read = readAnnouncement(signedJoin)!;
    expect(String(read.nodeKey)).toBe('0123456789abcdef');
    expect(String(read.instance)).toBe('fedcba9876543210');
    expect(read).toMatchObject({ virtualNodes: 256, partitionHash: 'murmur3', capabilities: LOCAL_CAPABILITIES });
    const goFlow = readAnnouncement(
      appendAnnouncement(join, encodeAnnouncement({ ...announcement, partitionHash: 'go-flow', virtualNodes: 1, capabilities: 0 })),
    )!;
    expect(goFlow).toMatchObject({ partitionHash: 'go-flow', virtualNodes: 1, capabilities: 0 });
  });

  it('leaves the frame as Go flow reads it: same header, payload length and decoded content', () => {
    // Go flow's unmarshalFrame needs len >= 12 + payloadLength and payload() slices exactly payloadLength bytes.
    expect(Array.from(signedJoin.subarray(0, join.length))).toEqual(Array.from(join));
    expect(decodeFrame(signedJoin)).toEqual(decodeFrame(join));
    const goJoin = loadGoVectors().frames.find((v) => v.type === 'JOIN')!;
    const signedGoJoin = appendAnnouncement(fromHex(goJoin.hex), encodeAnnouncement(announcement));
    expect(decodeFrame(signedGoJoin)).toEqual(decodeFrame(fromHex(goJoin.hex)));
    const info = encodeFrame({ type: FrameType.Info, id: 7, neighbours: [announcement.nodeKey] });
    expect(decodeFrame(appendAnnouncement(info, encodeAnnouncement(announcement)))).toEqual(decodeFrame(info));
  });

  it('finds none after a Go frame or after foreign trailing bytes', () => {
    for (const vector of loadGoVectors().frames) expect(readAnnouncement(fromHex(vector.hex))).toBeUndefined();
    expect(readAnnouncement(appendAnnouncement(join, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9])))).toBeUndefined();
    expect(readAnnouncement(appendAnnouncement(join, new Uint8Array([0x46, 0x43])))).toBeUndefined();
  });

  it('skips fields it does not know in a longer body from a later version', () => {
    const longer = new Uint8Array(ANNOUNCEMENT_SIZE + 10);
    longer.set(encodeAnnouncement(announcement));
    new DataView(longer.buffer).setUint16(4, 24 + 10);
    expect(readAnnouncement(appendAnnouncement(join, longer))).toMatchObject({ virtualNodes: 256 });
  });

  it.each([
    ['a truncated body', (a: Uint8Array) => a.subarray(0, 20), /body length 24/],
    ['a body length below 24', (a: Uint8Array) => patch(a, (v) => v.setUint16(4, 23)), /body length 23/],
    ['a body length beyond the bytes', (a: Uint8Array) => patch(a, (v) => v.setUint16(4, 500)), /body length 500/],
    ['an unknown version', (a: Uint8Array) => patch(a, (v) => v.setUint8(6, 9)), /unknown version 9/],
    ['an unknown hash mode', (a: Uint8Array) => patch(a, (v) => v.setUint8(7, 2)), /unknown hash mode 2/],
    ['zero virtual nodes', (a: Uint8Array) => patch(a, (v) => v.setUint16(8, 0)), /virtualNodes 0/],
    ['too many virtual nodes', (a: Uint8Array) => patch(a, (v) => v.setUint16(8, 4097)), /virtualNodes 4097/],
  ])('rejects %s with a ProtocolError', (_what, mutate, message) => {
    const bytes = appendAnnouncement(join, mutate(encodeAnnouncement(announcement)));
    expect(() => readAnnouncement(bytes)).toThrow(ProtocolError);
    expect(() => readAnnouncement(bytes)).toThrow(message);
  });

  it('only ever throws ProtocolError on mutated announcements, also inside a larger buffer', () => {
    let seed = 7;
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16;
    const base = encodeAnnouncement(announcement);
    for (let round = 0; round < 2_000; round++) {
      const mutated = base.slice(0, 4 + (next() % (base.length - 3)));
      for (let flips = next() % 4; flips > 0; flips--) {
        const at = 4 + (next() % Math.max(1, mutated.length - 4));
        if (at < mutated.length) mutated[at] = next() & 0xff;
      }
      const framed = appendAnnouncement(join, mutated);
      const padded = new Uint8Array(framed.length + 16);
      padded.set(framed, 8);
      for (const bytes of [framed, padded.subarray(8, 8 + framed.length)]) {
        try {
          readAnnouncement(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
        }
      }
    }
  });

  it('tells which extensions a member speaks, and none for a member that never announced', () => {
    expect(supports(announcement, Capability.ErrorReplies)).toBe(true);
    expect(supports(announcement, Capability.IdentityCheck)).toBe(true);
    expect(supports({ ...announcement, capabilities: Capability.ErrorReplies }, Capability.IdentityCheck)).toBe(false);
    expect(supports(undefined, Capability.ErrorReplies)).toBe(false);
  });
});

function patch(bytes: Uint8Array, edit: (view: DataView) => void): Uint8Array {
  const copy = bytes.slice();
  edit(new DataView(copy.buffer));
  return copy;
}
