import { EventPattern, MessagePattern } from '@nestjs/microservices';
import { InvalidOptionError } from '../core';
import { checkStream } from '../core/subjects';
import { FLOW_EXTRAS_KEY, FLOW_TRANSPORT, FlowHandlerExtras, StreamKind } from './flow.constants';

export interface StreamHandlerOptions {
  /**
   * Serve a request stream: the handler's last value (or its Promise's or
   * Observable's) is the reply. Default false: a message stream, no reply.
   */
  readonly request?: boolean;
  /**
   * Receive the message bytes (a read-only Uint8Array) instead of the
   * deserialized payload. Default false.
   */
  readonly raw?: boolean;
}

/**
 * Declares a controller method as the handler of a Flow stream. The method is
 * a Nest pattern handler bound to FlowServer only (`FLOW_TRANSPORT`): pipes,
 * guards, interceptors, exception filters, `@Payload()` and `@Ctx()` (a
 * FlowContext) work as with any transport. The handler's completion, including
 * a returned Promise or Observable, ends the turn of its partition key.
 *
 * Exceptions: method, controller and global exception filters apply as with
 * any Nest transport. Add FlowExceptionFilter (on the controller, or as a
 * global filter) to keep HttpException status and validation messages in the
 * error reply; without a filter Nest's default replies "Internal server error".
 *
 * `stream` is the NATS subject, a plain string. Message streams are the default;
 * pass `{ request: true }`, or use `@RequestHandler`, for request streams.
 */
export function StreamHandler(stream: string, options: StreamHandlerOptions = {}): MethodDecorator {
  // The clique is not known here: the broker checks collisions with its subjects when the handler is bound.
  checkStream(stream);
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError('options', 'must be an object', options);
  }
  const extras: FlowHandlerExtras = Object.freeze({
    kind: flag('request', options.request) ? StreamKind.Request : StreamKind.Message,
    raw: flag('raw', options.raw),
  });
  const pattern = extras.kind === StreamKind.Request ? MessagePattern : EventPattern;
  return pattern(stream, FLOW_TRANSPORT, { [FLOW_EXTRAS_KEY]: extras });
}

/** Declares a controller method as the handler of a Flow request stream: `@StreamHandler(stream, { request: true })`. */
export function RequestHandler(stream: string, options: Omit<StreamHandlerOptions, 'request'> = {}): MethodDecorator {
  return StreamHandler(stream, { ...options, request: true });
}

function flag(option: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw new InvalidOptionError(option, 'must be a boolean', value);
  return value;
}
