import { Controller } from '@nestjs/common';
import { closeAll, FlowTestApp, startFlowApp } from '../../test/flow-apps';
import { ErrorCode, FlowError, MemoryBus } from '../core';
import { FlowHealthIndicator } from './flow.health';
import { StreamHandler } from './stream-handler.decorator';

@Controller()
class OrdersController {
  @StreamHandler('orders')
  onOrder(): void {}
}

describe('FlowHealthIndicator: identity and compatibility', () => {
  const started: FlowTestApp[] = [];
  afterEach(() => closeAll(started.splice(0)));

  it('fails the bootstrap of a second app with the same nodeName and reports the attempt on the live one', async () => {
    const bus = new MemoryBus();
    const reported: FlowError[] = [];
    started.push(
      await startFlowApp({ bus, name: 'ledger-1', controllers: [OrdersController], flow: { onError: (e) => reported.push(e) } }),
    );
    await expect(startFlowApp({ bus, name: 'ledger-1', controllers: [OrdersController] })).rejects.toMatchObject({
      code: ErrorCode.NodeConflict,
      nodeName: 'ledger-1',
    });
    await bus.idle();

    expect(reported.map((e) => e.code)).toEqual([ErrorCode.NodeConflict]);
    const details = started[0].app.get(FlowHealthIndicator).check().flow;
    expect(details).toMatchObject({ status: 'up', conflicts: 1, incompatibleMembers: 0 });
    expect(details.lastProblem).toMatch(/^FLOW_NODE_CONFLICT: a broker tried to join clique "_global" with key [0-9a-f]{16}, which this broker holds as its node key/);
  });

  it('passes partitionHash through and reports a member with another mode as incompatible', async () => {
    const bus = new MemoryBus();
    const quiet = { onError: () => undefined };
    started.push(await startFlowApp({ bus, name: 'standard', controllers: [OrdersController], flow: quiet }));
    started.push(
      await startFlowApp({ bus, name: 'legacy', controllers: [OrdersController], flow: { ...quiet, partitionHash: 'go-flow' } }),
    );
    await bus.idle();

    expect(started.map((app) => app.broker.options.partitionHash)).toEqual(['murmur3', 'go-flow']);
    for (const app of started) {
      const details = app.app.get(FlowHealthIndicator).check().flow;
      expect(details).toMatchObject({ status: 'up', incompatibleMembers: 1, ringSize: 8 });
      expect(details.lastProblem).toMatch(/^FLOW_INCOMPATIBLE_MEMBER: .*partitionHash/);
    }
  });
});
