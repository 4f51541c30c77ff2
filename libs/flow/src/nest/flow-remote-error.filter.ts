import { ArgumentsHost, Catch, ExceptionFilter, HttpStatus, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { Observable, throwError } from 'rxjs';
import { RemoteError } from '../core';

const HTTP_CODE = /^HTTP_([1-5]\d\d)$/;

/**
 * For the HTTP side of a hybrid app: an HTTP handler that awaited
 * `FlowClient.request` and got a RemoteError answers with what the remote
 * handler meant. A code `HTTP_<status>` (an HttpException thrown by the
 * remote handler, e.g. ValidationPipe's 400) becomes that status with the
 * remote response body (its `details`); any other code becomes 500
 * `{ statusCode, message: 'Internal server error', code }`, as Nest answers
 * an unknown exception, with the remote code for the caller to switch on.
 *
 * Outside HTTP (a Flow or other RPC handler that awaited the request) it
 * rethrows the error unchanged, so it travels on as the handler's failure.
 *
 * Register it globally with `app.useGlobalFilters(new FlowRemoteErrorFilter(app.get(HttpAdapterHost)))`,
 * or as an `APP_FILTER` provider; on a controller or method with `@UseFilters(FlowRemoteErrorFilter)`.
 * Works with any HTTP platform (it replies through Nest's HTTP adapter).
 */
@Catch(RemoteError)
export class FlowRemoteErrorFilter implements ExceptionFilter<RemoteError> {
  constructor(@Optional() private readonly adapterHost?: HttpAdapterHost) {}

  catch(error: RemoteError, host: ArgumentsHost): Observable<never> | void {
    const adapter = this.adapterHost?.httpAdapter;
    if (host.getType() !== 'http' || adapter === undefined) return throwError(() => error);
    const { status, body } = httpResponseOf(error);
    adapter.reply(host.switchToHttp().getResponse(), body, status);
  }
}

/** The HTTP status and body that a RemoteError stands for. */
export function httpResponseOf(error: RemoteError): { status: number; body: unknown } {
  const match = HTTP_CODE.exec(error.code);
  if (match === null) {
    const status = HttpStatus.INTERNAL_SERVER_ERROR;
    return { status, body: { statusCode: status, message: 'Internal server error', code: error.code } };
  }
  const status = Number(match[1]);
  const details = error.details;
  const body = details !== null && typeof details === 'object' ? details : { statusCode: status, message: error.message };
  return { status, body };
}
