import { Controller, UseFilters, UseGuards, UseInterceptors, UsePipes, ValidationPipe } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { FlowContext, FlowExceptionFilter, RequestHandler, StreamHandler } from 'nestjs-flow';
import { OrderLockedError, StampInterceptor, TenantGuard } from './enhancers.js';
import type { OrderPlaced, Quote } from './orders.dto.js';
import { QuoteRequest } from './orders.dto.js';
import { Probe } from './probe.js';

@Controller()
@UseFilters(FlowExceptionFilter)
@UsePipes(new ValidationPipe({ transform: true }))
export class OrdersController {
  constructor(private readonly probe: Probe) {}

  @StreamHandler('orders.placed')
  placed(@Payload() event: OrderPlaced, @Ctx() ctx: FlowContext): void {
    this.probe.events.push({
      payload: event,
      stream: ctx.getStream(),
      partitionKey: ctx.getPartitionKey(),
      partition: ctx.getPartition(),
      contextIsFlowContext: ctx instanceof FlowContext,
    });
  }

  @RequestHandler('orders.quote')
  @UseGuards(TenantGuard)
  @UseInterceptors(StampInterceptor)
  quote(@Payload() request: QuoteRequest, @Ctx() ctx: FlowContext): Quote {
    return {
      orderId: request.orderId,
      total: request.quantity * 10,
      dtoIsInstance: request instanceof QuoteRequest,
      partitionKey: ctx.getPartitionKey(),
    };
  }
}

/** No filter of its own: its failures go to the global filters. */
@Controller()
export class LocksController {
  @RequestHandler('orders.cancel')
  cancel(@Payload() request: { orderId: string }): never {
    throw new OrderLockedError(request.orderId);
  }
}
