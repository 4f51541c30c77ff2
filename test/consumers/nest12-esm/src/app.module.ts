import { Module } from '@nestjs/common';
import { FlowModule } from 'nestjs-flow';
import { LocksController, OrdersController } from './orders.controller.js';
import { Probe } from './probe.js';

@Module({
  imports: [FlowModule.forRoot({})],
  controllers: [OrdersController, LocksController],
  providers: [Probe],
})
export class AppModule {}
