import { deepStrictEqual, strictEqual } from 'node:assert/strict';
import { startFlowTestingApps } from 'nestjs-flow/testing';
import { AppModule } from './app.module.js';
import type { Check } from './checks.js';
import { OrderLockedFilter } from './enhancers.js';
import { Probe } from './probe.js';

/** nestjs-flow/testing's Nest helper (it needs @nestjs/testing): three instances of AppModule on one bus. */
export const cliqueCheck: Check = {
  name: 'startFlowTestingApps: a keyed event runs on the owner of its key only',
  run: async () => {
    const clique = await startFlowTestingApps({
      imports: [AppModule],
      instances: 3,
      configure: (app) => app.useGlobalFilters(new OrderLockedFilter(app.get(Probe))),
    });
    try {
      await clique.apps[0].client.publish('orders.placed', { orderId: 'o-9', amount: 1 }, { key: 'acct-9' });
      await clique.idle();
      const owner = clique.ownerOf('acct-9');
      const handled = clique.apps.map((entry) => entry.app.get(Probe).events.length);
      deepStrictEqual(
        handled,
        clique.apps.map((entry) => (entry === owner ? 1 : 0)),
        `events handled per instance; owner ${owner.name}`,
      );
      strictEqual(owner.app.get(Probe).events[0].partitionKey, 'acct-9');
    } finally {
      await clique.close();
    }
  },
};
