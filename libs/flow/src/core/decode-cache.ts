import { readUtf8 } from './bytes';
import { Key } from './key';

const STREAM_SLOTS = 8;
const STREAM_MAX_BYTES = 64;

/**
 * What one broker's decoding of incoming frames remembers (inbound.ts), so
 * that most messages reuse a string and a Key already made: the stream names
 * decoded lately, by a hash of their bytes (a broker sees few streams, each in
 * every message; a reused name is also already hashed for the handler
 * lookup), and the last FWD sender (forwards come from few senders, and a Key
 * is immutable). Each broker has its own: nothing is shared between brokers
 * in one process.
 */
export class DecodeCache {
  private readonly streamBytes: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(STREAM_SLOTS).fill(undefined);
  private readonly streams: string[] = new Array<string>(STREAM_SLOTS).fill('');
  private lastSender = new Key(0, 0);

  /** readUtf8 of a stream name, the same string again when these bytes were decoded lately. */
  stream(bytes: Uint8Array, start: number, end: number): string {
    const length = end - start;
    if (length === 0 || length > STREAM_MAX_BYTES) return readUtf8(bytes, start, end);
    const slot = (length + bytes[start] + bytes[end - 1]) & (STREAM_SLOTS - 1);
    const known = this.streamBytes[slot];
    if (known !== undefined && known.length === length) {
      let same = true;
      for (let i = 0; i < length && same; i++) same = known[i] === bytes[start + i];
      if (same) return this.streams[slot];
    }
    const stream = readUtf8(bytes, start, end);
    this.streamBytes[slot] = bytes.slice(start, end);
    this.streams[slot] = stream;
    return stream;
  }

  /** The Key of these halves, the same object as last time when they are the same. */
  sender(hi: number, lo: number): Key {
    if (hi !== this.lastSender.hi || lo !== this.lastSender.lo) this.lastSender = new Key(hi, lo);
    return this.lastSender;
  }
}
