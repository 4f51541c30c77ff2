import { ErrorCode, ProtocolError } from './errors';
import { decodeFrame, encodeFrame, Frame, FRAME_HEADER_SIZE, FrameType } from './frame';
import { Key } from './key';
import { fromHex, loadGoVectors, toHex } from '../../test/go-vectors';
import { SeededRandom, seededRandom } from '../testing/seeded-random';

/** Change the seed to explore; a failure report names the seed and case to replay. */
const SEED = 0x5eed_f10e;
const CASES = 100_000;

const TYPES = Object.values(FrameType);
const TEXTS = ['', 's', 'orders', '_global.d1601808ef7260a1', 'ünïcödé ✓', '🚀', 'x'.repeat(70)];
const HUGE = [0xffffffff, 0x80000000, 0x7fffffff, 0xfffffff8, 0x10000];
/** Ids across the u64 range: numbers below 2^53, bigints from there on (bytes.ts, U64). */
const IDS: readonly (number | bigint)[] = [0, 1, 2 ** 32, 2 ** 53 - 1, 2n ** 53n, 2n ** 53n + 1n, 2n ** 60n, 2n ** 64n - 1n];

function validFrames(random: SeededRandom): Uint8Array[] {
  const pick = <T>(items: readonly T[]): T => items[random.int(items.length)];
  const bytes = (max: number) => random.bytes(random.int(max + 1));
  const key = () => new Key(random.int(2 ** 32), random.int(2 ** 32));
  const msg = () => ({
    id: random.int(2 ** 32),
    reply: pick(TEXTS),
    stream: pick(TEXTS),
    partitionKey: bytes(16),
    data: bytes(40),
  });
  const frames: Frame[] = [];
  for (let i = 0; i < 64; i++) {
    const id = pick(IDS);
    frames.push(
      [
        { type: 'JOIN', sender: key() },
        { type: 'LEAV', node: key() },
        { type: 'INFO', id, neighbours: Array.from({ length: random.int(7) }, key) },
        { type: 'PING', id, sender: key() },
        { type: 'MSG ', msg: msg() },
        { type: 'FWD ', id, ackTo: key(), msg: msg() },
        { type: 'ACK ', id, data: bytes(40) },
        { type: 'ERR ', id, code: pick(TEXTS), message: pick(TEXTS), details: pick(['', '{"a":[1,2]}', 'ü']) },
      ][i % 8] as Frame,
    );
  }
  return [...loadGoVectors().frames.map((v) => fromHex(v.hex)), ...frames.map((frame) => encodeFrame(frame))];
}

/** One fuzz input: random bytes or a mutation of a valid frame. */
function mutate(random: SeededRandom, valid: Uint8Array[]): Uint8Array {
  const strategy = random.int(6);
  if (strategy === 0) return random.bytes(random.int(80));
  const source = valid[random.int(valid.length)];
  const out = source.slice();
  const view = new DataView(out.buffer);
  switch (strategy) {
    case 1: // a known type over random bytes
      if (out.length >= FRAME_HEADER_SIZE) {
        for (let i = 4; i < out.length; i++) out[i] = random.int(256);
        out.set(new TextEncoder().encode(TYPES[random.int(TYPES.length)]), 4);
        view.setUint32(8, random.int(out.length - FRAME_HEADER_SIZE + 8));
      }
      return out;
    case 2: // bit flips
      for (let flips = 1 + random.int(4); flips > 0; flips--) out[random.int(out.length)] ^= 1 << random.int(8);
      return out;
    case 3: // truncation, the header length adjusted half of the time
      if (random.int(2) && out.length > FRAME_HEADER_SIZE) {
        const payload = random.int(out.length - FRAME_HEADER_SIZE);
        view.setUint32(8, payload);
        return out.subarray(0, FRAME_HEADER_SIZE + payload);
      }
      return out.subarray(0, random.int(out.length));
    case 4: // a length-sized field overwritten with a huge or off-by-one value
      if (out.length >= 4) {
        const offset = random.int(out.length - 3);
        const values = [...HUGE, out.length, out.length - offset, out.length - offset - 3, random.int(2 ** 32)];
        view.setUint32(offset, values[random.int(values.length)]);
      }
      return out;
    default: {
      // trailing garbage plus one random byte
      const longer = new Uint8Array(out.length + 1 + random.int(16));
      longer.set(out);
      for (let i = out.length; i < longer.length; i++) longer[i] = random.int(256);
      longer[random.int(longer.length)] = random.int(256);
      return longer;
    }
  }
}

describe('decodeFrame under fuzzing', () => {
  it(`either decodes (and re-encodes) or throws a ProtocolError for ${CASES} random and mutated buffers (seed ${SEED.toString(16)})`, () => {
    const random = seededRandom(SEED);
    const valid = validFrames(random);
    const failures: string[] = [];
    let decoded = 0;
    for (let i = 0; i < CASES && failures.length < 5; i++) {
      const input = mutate(random, valid);
      let frame: Frame;
      try {
        frame = decodeFrame(input);
        decoded++;
      } catch (error) {
        if (!(error instanceof ProtocolError) || error.code !== ErrorCode.Protocol) {
          failures.push(`case ${i}: ${String(error)} from ${toHex(input)}`);
        }
        continue;
      }
      // Whatever decodes can be sent on (a forward re-encodes a foreign message from a timer).
      try {
        encodeFrame(frame);
      } catch (error) {
        failures.push(`case ${i}: re-encoding threw ${String(error)} for ${toHex(input)}`);
      }
    }
    expect(failures).toEqual([]);
    // Both outcomes must be common, or the mutations are not probing the decoder.
    expect(decoded).toBeGreaterThan(CASES * 0.1);
    expect(decoded).toBeLessThan(CASES * 0.9);
  });
});
