import { HttpException } from '@nestjs/common';
import { RpcException } from '@nestjs/microservices';
import { ErrorCode, FlowError } from '../core';

/**
 * A Nest handler's failure in the form the broker sends back: a request's
 * requester receives it as a RemoteError with the same `code`, `message` and
 * `details`. HttpExceptions get the code `HTTP_<status>` and their response
 * body as details, so ValidationPipe's messages reach the requester.
 */
export class FlowHandlerError extends FlowError {
  override readonly name = 'FlowHandlerError';
  /** JSON-serialisable; sent to the requester. */
  readonly details: unknown;

  constructor(code: string, message: string, options: { details?: unknown; cause?: unknown } = {}) {
    super(code, message, { cause: options.cause });
    this.details = options.details;
  }
}

/**
 * Maps what a Nest handler invocation failed with to a FlowHandlerError:
 * either the exception itself (passed on by FlowExceptionFilter) or what an
 * exception filter of the user produced (an object or error it threw).
 *
 * - RpcException: FLOW_RPC_ERROR, its error as message (or its `message`) and details;
 * - HttpException: `HTTP_<status>`, the response body as details, its `message`
 *   (a list is joined with "; ") as message;
 * - an Error: its `code` if a string, else FLOW_HANDLER_ERROR; its `details` if any;
 * - a filter's plain object: its `code` if a string, else FLOW_RPC_ERROR; the object as details.
 */
export function toFlowHandlerError(failure: unknown): FlowHandlerError {
  if (failure instanceof FlowHandlerError) return failure;
  if (failure instanceof RpcException) {
    const error = failure.getError();
    return new FlowHandlerError(ErrorCode.Rpc, messageOf(error, failure.message), {
      details: error,
      cause: failure,
    });
  }
  if (failure instanceof HttpException) {
    const response = failure.getResponse();
    return new FlowHandlerError(`HTTP_${failure.getStatus()}`, messageOf(response, failure.message), {
      details: response,
      cause: failure,
    });
  }
  if (failure instanceof Error) {
    const fields = failure as Error & { code?: unknown; details?: unknown };
    const code = typeof fields.code === 'string' ? fields.code : ErrorCode.Handler;
    return new FlowHandlerError(code, failure.message, { details: fields.details, cause: failure });
  }
  if (isRecord(failure)) {
    const code = typeof failure['code'] === 'string' ? failure['code'] : ErrorCode.Rpc;
    return new FlowHandlerError(code, messageOf(failure, 'RPC exception filter error'), { details: failure });
  }
  return new FlowHandlerError(ErrorCode.Handler, String(failure), { cause: failure });
}

/** A readable message from an error body: its `message` (lists joined with "; ") or the body itself. */
function messageOf(body: unknown, fallback: string): string {
  if (typeof body === 'string') return body;
  if (!isRecord(body)) return fallback;
  const message = body['message'];
  if (typeof message === 'string') return message;
  if (Array.isArray(message) && message.length > 0) return message.map(String).join('; ');
  return fallback;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
