import { Catch, RpcExceptionFilter } from '@nestjs/common';
import { EXCEPTION_FILTERS_METADATA, FILTER_CATCH_EXCEPTIONS } from '@nestjs/common/constants';
import { Observable, throwError } from 'rxjs';

/**
 * Hands any exception to FlowServer unchanged, which turns it into the error
 * reply or error report (see FlowHandlerError): HttpExceptions keep their
 * status and body, so ValidationPipe's messages reach the requester. Nest's
 * own fallback, BaseRpcExceptionFilter, would flatten them to
 * "Internal server error". Apply it to plain `@EventPattern`/`@MessagePattern`
 * handlers served by FlowServer to get the same behaviour there.
 */
@Catch()
export class FlowExceptionFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown): Observable<never> {
    return throwError(() => exception);
  }
}

/**
 * The FlowExceptionFilter `@StreamHandler` installs on a handler method, at
 * the lowest priority among the method's filters. It steps aside (its catch
 * test fails) for an exception that a filter on the controller class catches,
 * so controller filters keep working as in Nest. Global filters rank below
 * method filters in Nest, so they do not see exceptions of Flow handlers.
 *
 * Reads the controller's filters when an exception occurs, because class
 * decorators run after method decorators. Only failures pay for this: no
 * interceptor is added, which would cost every message (Nest binds an
 * AsyncResource per interceptor call).
 */
export function controllerFallbackFilter(controller: object): FlowExceptionFilter {
  const notCaughtByController = {
    [Symbol.hasInstance]: (exception: unknown): boolean => !controllerCatches(controller, exception),
  };
  @Catch(notCaughtByController as never)
  class ControllerFallbackFilter extends FlowExceptionFilter {}
  return new ControllerFallbackFilter();
}

function controllerCatches(controller: object, exception: unknown): boolean {
  const filters: unknown[] = Reflect.getMetadata(EXCEPTION_FILTERS_METADATA, controller) ?? [];
  return filters.some((filter) => {
    const type: unknown = typeof filter === 'function' ? filter : (filter as object | undefined)?.constructor;
    const catches: unknown[] = (type !== undefined && Reflect.getMetadata(FILTER_CATCH_EXCEPTIONS, type as object)) || [];
    return catches.length === 0 || catches.some((caught) => exception instanceof (caught as new () => unknown));
  });
}
