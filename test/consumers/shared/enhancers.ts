import {
  ArgumentsHost,
  CallHandler,
  CanActivate,
  Catch,
  ExecutionContext,
  ForbiddenException,
  Injectable,
  NestInterceptor,
  RpcExceptionFilter,
} from '@nestjs/common';
import { FlowContext } from 'nestjs-flow';
import { Observable, map, throwError } from 'rxjs';
import { Probe } from './probe.js';

/** Lets only tenant "acme" through; runs before the ValidationPipe. */
@Injectable()
export class TenantGuard implements CanActivate {
  constructor(private readonly probe: Probe) {}

  canActivate(context: ExecutionContext): boolean {
    this.probe.guardCalls++;
    if (!(context.switchToRpc().getContext() instanceof FlowContext)) {
      throw new Error('TenantGuard: the RPC context is not a FlowContext');
    }
    const { tenant } = context.switchToRpc().getData() as { tenant?: unknown };
    if (tenant !== 'acme') throw new ForbiddenException(`tenant ${String(tenant)} may not ask for quotes`);
    return true;
  }
}

/** Stamps every reply it passes. */
@Injectable()
export class StampInterceptor implements NestInterceptor {
  constructor(private readonly probe: Probe) {}

  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    this.probe.interceptorCalls++;
    return next.handle().pipe(map((reply: object) => ({ ...reply, stampedBy: 'StampInterceptor' })));
  }
}

/** A domain error of the app, with a code of its own. */
export class OrderLockedError extends Error {
  readonly code = 'ORDER_LOCKED';
  constructor(readonly orderId: string) {
    super(`order ${orderId} is locked`);
  }
}

/** Registered with useGlobalFilters: turns OrderLockedError into an error reply of its own shape. */
@Catch(OrderLockedError)
export class OrderLockedFilter implements RpcExceptionFilter<OrderLockedError> {
  constructor(private readonly probe: Probe) {}

  catch(exception: OrderLockedError, _host: ArgumentsHost): Observable<never> {
    this.probe.filterCalls++;
    return throwError(() => ({
      code: 'ORDER_LOCKED_BY_GLOBAL_FILTER',
      message: `global filter: ${exception.message}`,
      orderId: exception.orderId,
    }));
  }
}
