import { ManualClock } from '../testing/manual-clock';
import { newCounters } from './broker-counters';
import type { Forward, ForwarderHost } from './forwarder-host';
import { keyFromString } from './key';
import { resolveBrokerOptions } from './options';
import { OverdueForwards } from './overdue-forwards';
import { OwnerSigns } from './owner-signs';
import type { PendingTable } from './pending';

const ACK_TIMEOUT = 50;
const utf8 = new TextEncoder();

/**
 * A forward with notices that its owner has not accepted, an ackTimeout late,
 * while the owner answers probes but no forward: sent again only when the
 * owner sent a JOIN since the forward went out (a broker restarted there,
 * which never saw it; seeds 56140 and 65900 of the simulation with overload).
 */
describe('an overdue forward whose owner answers probes', () => {
  async function overdue(joinedAt: number | undefined, sentAt: number): Promise<number> {
    const clock = new ManualClock();
    const options = resolveBrokerOptions({ nodeName: 'relay', clock, ackTimeout: ACK_TIMEOUT });
    const host = { options, counters: newCounters() } as unknown as ForwarderHost;
    const signs = new OwnerSigns({ clock, probe: () => Promise.resolve('alive'), readmit: () => undefined });
    const owner = keyFromString('owner');
    let sent = 0;
    const late = new OverdueForwards({
      host,
      pending: { fail: () => true } as unknown as PendingTable<boolean, Forward>,
      signs,
      retryIds: new WeakMap(),
      awaitAck: () => true,
      send: () => void sent++,
      ownerGone: () => undefined,
    });
    const join = (): void => {
      clock.advance(joinedAt! - clock.now());
      signs.joined(owner);
    };
    if (joinedAt !== undefined && joinedAt < sentAt) join();
    clock.advance(sentAt - clock.now());
    const msg = { id: 0n, reply: '', stream: 'orders', partitionKey: utf8.encode('k'), data: new Uint8Array(1) };
    const entry: Forward = { id: 1n, msg, owner, notices: true, since: clock.now(), accepted: false, pending: true };
    if (joinedAt !== undefined && joinedAt >= sentAt) join();
    clock.advance(sentAt + ACK_TIMEOUT - clock.now());
    late.onOverdue(entry);
    // The probe's verdict comes in a microtask.
    await Promise.resolve();
    await Promise.resolve();
    return sent;
  }

  it('is sent again when its owner joined after it went out', async () => {
    expect(await overdue(120, 100)).toBe(1);
  });

  it('waits when its owner did not join since (a copy on any "alive" revives a relay loop, seed 52981)', async () => {
    expect(await overdue(undefined, 100)).toBe(0);
    expect(await overdue(90, 100)).toBe(0);
    // A JOIN of the same instant may be the start the forward was sent to (forwarder.spec's slow owner).
    expect(await overdue(100, 100)).toBe(0);
  });
});
