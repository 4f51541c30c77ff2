/**
 * Hostile input for whole brokers (spec-only): every frame type with ids across
 * the u64 range, truncated, with inflated length fields, oversized, random and
 * mutated, addressed to every subject a broker listens on. Shared by the
 * in-memory fuzz spec and the end-to-end one on real NATS.
 */
import { encodeBatch } from '../src/core/forward-batches';
import { encodeFrame, Frame, FRAME_HEADER_SIZE, MsgPayload } from '../src/core/frame';
import { Key } from '../src/core/key';
import type { SeededRandom } from '../src/testing/seeded-random';

/** Ids across the u64 range: 0, 2^32, 2^53 +- 1, 2^60, 2^64 - 1 and neighbours. */
export const FUZZ_IDS: readonly (number | bigint)[] = [
  0,
  1,
  2 ** 32,
  2 ** 53 - 1,
  2n ** 53n,
  2n ** 53n + 1n,
  2n ** 60n,
  2n ** 64n - 1n,
];

/** Where fuzz goes: the subjects of one clique. */
export interface FuzzTargets {
  clique: string;
  /** Every ring position of every broker (their node subjects are `<clique>.<position>`). */
  positions: readonly string[];
  messageStream: string;
  requestStream: string;
  /** A subject replies may go to (the fuzzer's own), besides random ones. */
  replySubject: string;
}

export interface FuzzFrame {
  subject: string;
  bytes: Uint8Array;
  /** What it is, for failure messages. */
  kind: string;
}

/** The first byte of fuzz payloads: a handler tells fuzz from a clean run's messages by it. */
export const FUZZ_MARK = 0xff;

const ONE_MIB = 1 << 20;
const HUGE_LENGTHS = [0xffffffff, 0x80000000, 0x7fffffff, 0xfffffff8, 0x10000];

export interface FuzzOptions {
  /** One frame in this many is oversized. Default 500. */
  oversizedEvery?: number;
  /** Payload bytes of an oversized frame. Default 1 MiB; NATS needs it under the server's max_payload. */
  oversizedBytes?: number;
}

/**
 * `count` fuzz frames from `random`. One in `oversizedEvery` carries an
 * oversized payload. Fuzz never LEAVs or JOINs a real position (that is membership
 * forgery, which NATS permissions prevent; see docs/SECURITY.md) except as
 * mutated bytes.
 */
export function fuzzFrames(random: SeededRandom, targets: FuzzTargets, count: number, options: FuzzOptions = {}): FuzzFrame[] {
  const { oversizedEvery = 500, oversizedBytes = ONE_MIB } = options;
  const pick = <T>(items: readonly T[]): T => items[random.int(items.length)];
  const key = () => new Key(random.int(2 ** 32), random.int(2 ** 32));
  const payload = (max: number) => {
    const bytes = random.bytes(1 + random.int(max));
    bytes[0] = FUZZ_MARK;
    return bytes;
  };
  const nodeSubject = () => `${targets.clique}.${pick(targets.positions)}`;
  const subjects = () => pick([targets.clique, nodeSubject(), nodeSubject(), targets.messageStream, targets.requestStream]);
  const msg = (dataMax: number): MsgPayload => ({
    id: pick(FUZZ_IDS),
    reply: pick(['', targets.replySubject, `${targets.clique}.${key()}`, 'no.such.subject']),
    stream: pick([targets.messageStream, targets.requestStream, '', 'elsewhere']),
    partitionKey: random.bytes(random.int(24)),
    data: payload(dataMax),
  });
  const valid = (dataMax: number): Frame => {
    const id = pick(FUZZ_IDS);
    switch (random.int(8)) {
      case 0: return { type: 'JOIN', sender: key() };
      case 1: return { type: 'LEAV', node: key() };
      case 2: return { type: 'INFO', id, neighbours: Array.from({ length: random.int(40) }, key) };
      case 3: return { type: 'PING', id, sender: key() };
      case 4: return { type: 'MSG ', msg: msg(dataMax) };
      case 5: return { type: 'FWD ', id, ackTo: key(), msg: msg(dataMax) };
      case 6: return { type: 'ACK ', id, data: payload(32) };
      default: return { type: 'ERR ', id, code: 'FUZZ', message: 'fuzz', details: pick(['', '{"a":1}', 'not json']) };
    }
  };

  const frames: FuzzFrame[] = [];
  for (let i = 0; i < count; i++) {
    const oversized = i % oversizedEvery === oversizedEvery - 1;
    const frame = valid(oversized ? oversizedBytes : 64);
    const bytes = encodeFrame(frame);
    const how = oversized ? 5 : random.int(6);
    const subject = subjects();
    const type = frame.type.trim();
    switch (how) {
      case 0:
        frames.push({ subject, bytes, kind: `${type} valid` });
        break;
      case 1: // truncated, the header length adjusted half of the time
        frames.push({ subject, bytes: truncate(random, bytes), kind: `${type} truncated` });
        break;
      case 2: {
        // a length field (the header's or a field's) inflated
        const out = bytes.slice();
        const at = random.int(2) === 0 ? 8 : random.int(Math.max(1, out.length - 3));
        new DataView(out.buffer).setUint32(at, pick(HUGE_LENGTHS));
        frames.push({ subject, bytes: out, kind: `${type} inflated length at ${at}` });
        break;
      }
      case 3: {
        const out = bytes.slice();
        for (let flips = 1 + random.int(4); flips > 0; flips--) out[random.int(out.length)] ^= 1 << random.int(8);
        frames.push({ subject, bytes: out, kind: `${type} bit flips` });
        break;
      }
      case 4:
        frames.push({ subject, bytes: random.bytes(random.int(96)), kind: 'random bytes' });
        break;
      default:
        frames.push({ subject, bytes, kind: `${type} ${oversized ? 'oversized' : 'valid'}` });
    }
  }
  // Forward batches (core/forward-batches.ts) of 1 to 5 of the frames above, to node subjects; drawn after
  // them, so the frames above stay what they were for a given seed. Some with a length field inflated.
  for (let i = 0; i < Math.ceil(count / 10); i++) {
    const inner = Array.from({ length: 1 + random.int(5) }, () => pick(frames).bytes);
    const out = encodeBatch(inner.filter((bytes) => bytes.length <= 64 * 1024));
    const broken = random.int(3) === 0;
    if (broken) new DataView(out.buffer).setUint32(FRAME_HEADER_SIZE + random.int(Math.max(1, out.length - FRAME_HEADER_SIZE - 3)), pick(HUGE_LENGTHS));
    frames.push({ subject: nodeSubject(), bytes: out, kind: `FBAT of ${inner.length}${broken ? ', a length inflated' : ''}` });
  }
  return frames;
}


function truncate(random: SeededRandom, bytes: Uint8Array): Uint8Array {
  if (random.int(2) === 0 && bytes.length > FRAME_HEADER_SIZE) {
    const payload = random.int(bytes.length - FRAME_HEADER_SIZE);
    const out = bytes.slice(0, FRAME_HEADER_SIZE + payload);
    new DataView(out.buffer).setUint32(8, payload);
    return out;
  }
  return bytes.slice(0, random.int(bytes.length));
}
