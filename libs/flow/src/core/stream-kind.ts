import { Codec } from './codec';
import { ErrorCode, FlowError, ProtocolError } from './errors';
import { decodeFrame, FrameType, MsgPayload } from './frame';

/**
 * A stream is either a message (event) stream or a request stream (PROTOCOL.md):
 * the two carry different encodings. These helpers recognise a publisher that
 * used the wrong kind, so that it hears why instead of a decoding error.
 */

/** The request inside `data`, when `data` is a MSG frame that expects a reply; else undefined. */
export function requestFrameIn(data: Uint8Array): MsgPayload | undefined {
  try {
    const frame = decodeFrame(data);
    return frame.type === FrameType.Msg && frame.msg.reply.length > 0 ? frame.msg : undefined;
  } catch {
    return undefined;
  }
}

/** The error reply to a request sent to a message stream. */
export function requestOnMessageStream(stream: string): FlowError {
  return new FlowError(
    ErrorCode.NoHandler,
    `stream "${stream}" has a message (event) handler, not a request handler: publish/emit to it, or handle it with a request handler`,
  );
}

/**
 * What to report for bytes on a request stream that are not a frame: a
 * plain message (event) when the codec reads them, else `error` as is.
 */
export function undecodableRequest(stream: string, data: Uint8Array, codec: Codec, error: unknown): unknown {
  try {
    codec.decode(stream, data);
  } catch {
    return error;
  }
  return new ProtocolError(
    'request',
    `a plain message (event) arrived on request stream "${stream}": send requests to it, or handle it with a message handler`,
  );
}
