import { Injectable } from '@nestjs/common';

export interface SeenEvent {
  readonly payload: unknown;
  readonly stream: string;
  readonly partitionKey: string;
  readonly partition: string | undefined;
  readonly contextIsFlowContext: boolean;
}

/** Records what the handlers and enhancers saw, for the checks in main.ts. */
@Injectable()
export class Probe {
  readonly events: SeenEvent[] = [];
  guardCalls = 0;
  interceptorCalls = 0;
  filterCalls = 0;
}
