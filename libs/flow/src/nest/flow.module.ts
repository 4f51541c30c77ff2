import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { FlowBrokerHost } from './broker-host';
import { FLOW_MODULE_OPTIONS } from './flow.constants';
import { FlowClient } from './flow.client';
import { FlowHealthIndicator } from './flow.health';
import { FlowMetrics } from './flow.metrics';
import { FlowConfigurableModule } from './flow.module-definition';
import { FlowServer } from './flow.server';
import { FlowPartitionHooks } from './partition-hooks';

/**
 * Flow for a Nest app: `FlowModule.forRoot(options)` or
 * `FlowModule.forRootAsync({ imports, inject, useFactory | useClass, isGlobal })`.
 *
 * Provides one FlowBrokerHost (the app's broker and connection), FlowServer
 * (attach it as a microservice strategy to serve `@StreamHandler`s),
 * FlowClient, FlowHealthIndicator and FlowMetrics. Options are validated while the app
 * bootstraps. Keeps no state outside its providers, so several apps in one
 * process are independent (or form one clique over a shared MemoryBus).
 */
@Module({
  imports: [DiscoveryModule],
  providers: [FlowBrokerHost, FlowServer, FlowClient, FlowHealthIndicator, FlowMetrics, FlowPartitionHooks],
  exports: [FlowBrokerHost, FlowServer, FlowClient, FlowHealthIndicator, FlowMetrics, FLOW_MODULE_OPTIONS],
})
export class FlowModule extends FlowConfigurableModule {}
