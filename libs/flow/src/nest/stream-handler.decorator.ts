import { EXCEPTION_FILTERS_METADATA } from '@nestjs/common/constants';
import { EventPattern, MessagePattern } from '@nestjs/microservices';
import { InvalidOptionError } from '../core';
import { checkStream } from '../core/subjects';
import { FLOW_EXTRAS_KEY, FLOW_TRANSPORT, FlowHandlerExtras, StreamKind } from './flow.constants';
import { controllerFallbackFilter } from './flow-exception.filter';

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
 * Exceptions: filters on the method, then filters on the controller, handle
 * them as in Nest; what they do not catch goes to FlowServer as thrown (see
 * FlowExceptionFilter), keeping HttpException status and validation messages.
 * Global exception filters are not consulted for Flow handlers.
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
  const pattern = (extras.kind === StreamKind.Request ? MessagePattern : EventPattern)(stream, FLOW_TRANSPORT, {
    [FLOW_EXTRAS_KEY]: extras,
  });
  return (target, key, descriptor) => {
    pattern(target, key, descriptor);
    // First in the list = last consulted: every filter declared on the method ranks above the fallback.
    const declared: unknown[] = Reflect.getMetadata(EXCEPTION_FILTERS_METADATA, descriptor.value as object) ?? [];
    const fallback = controllerFallbackFilter(target.constructor);
    Reflect.defineMetadata(EXCEPTION_FILTERS_METADATA, [fallback, ...declared], descriptor.value as object);
  };
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
