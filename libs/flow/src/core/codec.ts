/**
 * How plain stream messages look on `<stream>` subjects. Pluggable so that a
 * clique can consume streams written by foreign publishers (PROTOCOL.md,
 * "Stream message encoding"). Requests never pass through a codec: they travel
 * as MSG frames.
 */
import { CodecError } from './errors';
import { Slab } from './slab';
import { fieldEnd, fieldOverrun, readUtf8, utf8Length, writeBytesField, writeTextField } from './bytes';

export interface StreamMessage {
  stream: string;
  /** Bytes hashed to choose the owning broker; empty means no partition. */
  partitionKey: Uint8Array;
  data: Uint8Array;
}

export interface Codec {
  /** Returns a new array owned by the caller. */
  encode(msg: StreamMessage): Uint8Array;
  /**
   * `subject` is the subject the bytes arrived on. Throws CodecError, and nothing
   * else, when `bytes` cannot be decoded.
   */
  decode(subject: string, bytes: Uint8Array): StreamMessage;
}

/**
 * Go flow's format: `u32 streamLen | stream | u32 pkeyLen | pkey | data (the rest)`,
 * integers big-endian, stream as UTF-8.
 *
 * Decoding: an empty stream field means the message's subject; the returned
 * `partitionKey` and `data` are views into `bytes`, not copies; bytes are never
 * allocated according to a length field before it is checked against the input.
 */
export class DefaultCodec implements Codec {
  /** Each codec instance (by default, each broker's) carves its output from its own slab. */
  private readonly slab = new Slab();

  encode(msg: StreamMessage): Uint8Array {
    const streamLength = utf8Length(msg.stream);
    const pkey = msg.partitionKey;
    const out = this.slab.allocate(8 + streamLength + pkey.length + msg.data.length);
    const at = writeTextField(out, 0, msg.stream, streamLength);
    out.set(msg.data, writeBytesField(out, at, pkey));
    return out;
  }

  decode(subject: string, bytes: Uint8Array): StreamMessage {
    if (!(bytes instanceof Uint8Array)) {
      throw new CodecError(subject, `expected a Uint8Array, received ${bytes === null ? 'null' : typeof bytes}`);
    }
    const streamEnd = field(subject, bytes, 0, 'stream');
    const pkeyEnd = field(subject, bytes, streamEnd, 'partition key');
    return {
      stream: streamEnd === 4 ? subject : readUtf8(bytes, 4, streamEnd),
      partitionKey: bytes.subarray(streamEnd + 4, pkeyEnd),
      data: bytes.subarray(pkeyEnd),
    };
  }
}

/** The end offset of the length-prefixed field at `at`; throws CodecError when it does not fit. */
function field(subject: string, bytes: Uint8Array, at: number, name: string): number {
  const end = fieldEnd(bytes, at, bytes.length);
  if (end < 0) throw new CodecError(subject, fieldOverrun(bytes, at, bytes.length, name));
  return end;
}
