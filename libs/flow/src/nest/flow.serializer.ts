import type { Deserializer, Serializer } from '@nestjs/microservices';
import { CodecError } from '../core';
import { utf8 } from './utf8';

/**
 * Turns a payload (an emitted or sent value, a handler's reply) into the
 * bytes of a Flow message. The returned array is handed to the broker, which
 * takes ownership of it.
 */
export type FlowSerializer = Serializer<unknown, Uint8Array>;

/**
 * Turns the bytes of a Flow message back into a payload (what `@Payload()`
 * receives, what `send`/`request` resolve to). The bytes are read-only and may
 * be shared: copy them before modifying. `options.stream` names the stream.
 */
export type FlowDeserializer = Deserializer<Uint8Array, unknown>;

/**
 * JSON, with bytes passing through untouched:
 * - a Buffer or any Uint8Array is written as is (no JSON around it);
 * - `undefined` (a handler that returns nothing) is written as zero bytes;
 * - everything else is `JSON.stringify`-ed as UTF-8.
 *
 * Bytes carry no marker on the wire, so the receiving side must know to expect
 * them: a handler declared with `{ raw: true }` (or a `request(..., { raw: true })`
 * call) receives the Uint8Array instead of a parsed value.
 */
export class JsonFlowSerializer implements FlowSerializer {
  serialize(value: unknown): Uint8Array {
    if (value instanceof Uint8Array) return value;
    if (value === undefined) return new Uint8Array(0);
    return utf8(JSON.stringify(value));
  }
}

/**
 * The counterpart of JsonFlowSerializer: zero bytes become `undefined`,
 * anything else must be UTF-8 JSON. Bytes that are not throw a CodecError
 * (code FLOW_CODEC) naming the stream.
 */
export class JsonFlowDeserializer implements FlowDeserializer {
  readonly #decoder = new TextDecoder('utf-8', { fatal: true });

  deserialize(bytes: Uint8Array, options?: { stream?: string }): unknown {
    if (bytes.length === 0) return undefined;
    try {
      return JSON.parse(this.#decoder.decode(bytes));
    } catch (error) {
      throw new CodecError(options?.stream ?? '', 'payload is not UTF-8 JSON', { cause: error });
    }
  }
}
