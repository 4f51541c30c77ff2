import { ConfigurableModuleBuilder } from '@nestjs/common';
import { FLOW_MODULE_OPTIONS } from './flow.constants';
import type { FlowModuleOptions } from './flow.options';

/** For `FlowModule.forRootAsync({ useClass })`: a provider that builds the options. */
export interface FlowOptionsFactory {
  createFlowOptions(): FlowModuleOptions | Promise<FlowModuleOptions>;
}

/** `isGlobal: true` makes FlowModule's providers visible to every module of the app. */
export interface FlowModuleExtras {
  isGlobal?: boolean;
}

export const {
  ConfigurableModuleClass: FlowConfigurableModule,
  OPTIONS_TYPE: FLOW_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: FLOW_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<FlowModuleOptions>({ moduleName: 'Flow', optionsInjectionToken: FLOW_MODULE_OPTIONS })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createFlowOptions')
  .setExtras<FlowModuleExtras>({ isGlobal: false }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();

export type FlowModuleAsyncOptions = typeof FLOW_ASYNC_OPTIONS_TYPE;
