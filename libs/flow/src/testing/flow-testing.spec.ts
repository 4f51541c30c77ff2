import { Controller, Injectable, Module, UseFilters, ValidationPipe } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { IsInt, IsString } from 'class-validator';
import { RemoteError } from '../core/errors';
import { FlowExceptionFilter } from '../nest/flow-exception.filter';
import { FlowContext } from '../nest/flow.context';
import { FlowModule } from '../nest/flow.module';
import { RequestHandler, StreamHandler } from '../nest/stream-handler.decorator';
import { startFlowTestingApps } from './flow-testing';

class Order {
  @IsString()
  customer!: string;

  @IsInt()
  amount!: number;
}

@Injectable()
class OrderStore {
  readonly totals = new Map<string, number>();
}

@Controller()
@UseFilters(FlowExceptionFilter)
class OrdersController {
  constructor(private readonly store: OrderStore) {}

  @StreamHandler('orders')
  add(@Payload() order: Order, @Ctx() context: FlowContext): void {
    const customer = context.getPartitionKey();
    this.store.totals.set(customer, (this.store.totals.get(customer) ?? 0) + order.amount);
  }

  @RequestHandler('orders.total')
  total(@Payload() order: Order): number {
    return this.store.totals.get(order.customer) ?? 0;
  }
}

/** A user's AppModule as in production: FlowModule on NATS servers that the test must never reach. */
@Module({
  imports: [FlowModule.forRoot({ servers: 'nats://127.0.0.1:1', clique: 'orders' })],
  controllers: [OrdersController],
  providers: [OrderStore],
})
class AppModule {}

describe('startFlowTestingApps', () => {
  it("runs instances of the user's AppModule on one in-memory bus, each key on one owner", async () => {
    const clique = await startFlowTestingApps({
      imports: [AppModule],
      configure: (app) => app.useGlobalPipes(new ValidationPipe({ transform: true })),
    });
    try {
      expect(clique.apps.map((entry) => entry.name)).toEqual(['app-1', 'app-2', 'app-3']);
      const customers = Array.from({ length: 30 }, (_, i) => `customer-${i}`);
      for (const customer of customers) {
        await clique.apps[0].client.publish('orders', { customer, amount: 2 }, { key: customer });
        await clique.apps[1].client.publish('orders', { customer, amount: 3 }, { key: customer });
      }
      await clique.idle();

      for (const customer of customers) {
        const holders = clique.apps.filter((entry) => entry.app.get(OrderStore).totals.has(customer));
        expect(holders.map((entry) => entry.name)).toEqual([clique.ownerOf(customer).name]);
        await expect(clique.apps[2].client.request('orders.total', { customer, amount: 0 }, { key: customer })).resolves.toBe(5);
      }
      const owners = new Set(customers.map((customer) => clique.ownerOf(customer).name));
      expect(owners.size).toBeGreaterThan(1);
    } finally {
      await clique.close();
    }
  });

  it('adds FlowModule when the modules do not import it, with the given names and Flow options', async () => {
    const clique = await startFlowTestingApps({
      controllers: [OrdersController],
      providers: [OrderStore],
      instances: ['left', 'right'],
      flow: { clique: 'shop', virtualNodes: 4 },
      configure: (app) => app.useGlobalPipes(new ValidationPipe({ transform: true })),
    });
    try {
      const snapshots = clique.apps.map((entry) => entry.broker.snapshot());
      expect(clique.apps.map((entry) => entry.name)).toEqual(['left', 'right']);
      expect(snapshots.map((snapshot) => [snapshot.clique, snapshot.positions.length, snapshot.members.length])).toEqual([
        ['shop', 4, 8],
        ['shop', 4, 8],
      ]);
      const error = await clique.apps[0].client
        .request('orders.total', { customer: 7, amount: 0 }, { key: 'c' })
        .catch((failure: unknown) => failure);
      expect(error).toBeInstanceOf(RemoteError);
      expect(error).toMatchObject({ code: 'HTTP_400' });
    } finally {
      await clique.close();
    }
  });

  it.each([
    [0, 'invalid option instances: must be an integer from 1 to 32, received 0'],
    [[], 'invalid option instances: must be a count or a non-empty list of node names, received []'],
    [['a', ''], 'invalid option instances'],
  ])('rejects instances %j', async (instances, message) => {
    await expect(startFlowTestingApps({ instances: instances as never })).rejects.toThrow(message);
  });
});
