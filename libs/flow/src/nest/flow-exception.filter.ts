import { ArgumentsHost, Catch } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import { BaseRpcExceptionFilter } from '@nestjs/microservices';
import { Observable, throwError } from 'rxjs';
import { FlowContext } from './flow.context';

/**
 * Opt-in: hands an exception of a Flow handler to FlowServer unchanged, which
 * turns it into the error reply or error report (see FlowHandlerError), so an
 * HttpException keeps its status and body and ValidationPipe's messages reach
 * the requester as `HTTP_400` with details. Without it (or a filter of your
 * own), Nest's default RPC handling replies "Internal server error".
 *
 * Where to put it:
 * - `@UseFilters(FlowExceptionFilter)` on a controller or method: filters on
 *   the method rank above those on the class, which rank above global ones,
 *   as everywhere in Nest.
 * - As a global filter: `{ provide: APP_FILTER, useClass: FlowExceptionFilter }`,
 *   or `app.useGlobalFilters(new FlowExceptionFilter(httpAdapter))`. It is
 *   safe in hybrid apps: for HTTP it behaves as Nest's BaseExceptionFilter
 *   (hence the adapter), and for other RPC transports as Nest's
 *   BaseRpcExceptionFilter. Global filters of your own registered after it
 *   rank above it.
 */
@Catch()
export class FlowExceptionFilter extends BaseExceptionFilter {
  readonly #rpc = new BaseRpcExceptionFilter();

  override catch(exception: unknown, host: ArgumentsHost): Observable<unknown> | void {
    if (host.getType() !== 'rpc') return super.catch(exception, host);
    if (host.switchToRpc().getContext() instanceof FlowContext) return throwError(() => exception);
    return this.#rpc.catch(exception, host);
  }
}
