import { Injectable } from '@nestjs/common';
import { FlowBrokerHost, FlowStatus } from './broker-host';

export interface FlowHealthDetails {
  readonly status: 'up' | 'down';
  /** The transport reports a live connection. */
  readonly connected: boolean;
  /** The broker has joined the ring (it has handlers); a publisher never joins. */
  readonly joined: boolean;
  /** Positions on the ring as this broker sees it, its own included; 0 until joined. */
  readonly ringSize: number;
  /** Ring positions this broker holds (its virtual nodes); 0 until joined. */
  readonly positions: number;
  /**
   * Identity conflicts seen (FLOW_NODE_CONFLICT): other brokers refused because
   * they tried to start with this broker's node key or a position, or a twin
   * that joined at the same instant. A refused start of this broker fails the
   * app's bootstrap instead.
   */
  readonly conflicts: number;
  /** Members this broker does not route to: another partitionHash, or Go brokers outside 'go-flow' mode. */
  readonly incompatibleMembers: number;
  /** The latest conflict or incompatibility, as `CODE: message`; absent when there was none. */
  readonly lastProblem?: string;
}

/**
 * Health of the app's broker, in the shape `@nestjs/terminus` expects from an
 * indicator (`{ [key]: { status: 'up' | 'down', ... } }`), without depending on
 * it. Up means: started, not shutting down, and connected. Identity conflicts
 * and incompatible members are reported in the details without taking the
 * broker down: the broker itself is sound, and restarting it would not help.
 *
 * With terminus: `() => health.check('flow')` as an indicator function, or
 * `indicatorService.check('flow')[health.isHealthy() ? 'up' : 'down'](details)`.
 */
@Injectable()
export class FlowHealthIndicator {
  constructor(private readonly host: FlowBrokerHost) {}

  check<K extends string = 'flow'>(key: K = 'flow' as K): Record<K, FlowHealthDetails> {
    const snapshot = this.host.broker?.snapshot();
    const identity = this.host.broker?.identity.report();
    const problem = identity?.lastConflict ?? identity?.lastIncompatible;
    const details: FlowHealthDetails = {
      status: this.isHealthy() ? 'up' : 'down',
      connected: this.#connected(),
      joined: snapshot?.joined ?? false,
      ringSize: snapshot?.members.length ?? 0,
      positions: snapshot?.positions.length ?? 0,
      conflicts: identity?.conflicts ?? 0,
      incompatibleMembers: identity?.incompatibleMembers ?? 0,
      ...(problem === undefined ? {} : { lastProblem: `${problem.code}: ${problem.message}` }),
    };
    return { [key]: details } as Record<K, FlowHealthDetails>;
  }

  isHealthy(): boolean {
    return this.host.broker !== undefined && !this.host.stopping && this.#connected();
  }

  #connected(): boolean {
    return this.host.currentStatus === FlowStatus.Connected;
  }
}
