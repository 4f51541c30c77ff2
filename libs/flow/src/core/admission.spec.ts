import { ManualClock } from '../testing/manual-clock';
import { Admission } from './admission';
import { Key } from './key';
import type { Liveness } from './liveness';
import type { MemberCapabilities } from './member-capabilities';
import { resolveBrokerOptions } from './options';
import { RoutingTable } from './routing-table';
import { ringPositions } from './virtual-nodes';

/** A joined broker's admission, with a compatible member `node` whose announcement names `positions`. */
function admitting() {
  const options = resolveBrokerOptions({ clock: new ManualClock(), nodeName: 'local', virtualNodes: 4 });
  const table = new RoutingTable({ local: ringPositions(options.nodeKey, 4), successors: 2, stabilizers: 1 });
  const node = new Key(0x12345678, 0x9abcdef0);
  const positions = ringPositions(node, 4);
  const lookups = { count: 0 };
  const isMember = table.isMember.bind(table);
  table.isMember = (key: Key): boolean => {
    lookups.count++;
    return isMember(key);
  };
  const liveness = { buriesAny: () => false, isBuried: () => false } as unknown as Liveness;
  const capabilities = {
    refusesAny: () => false,
    isRefused: () => false,
    positionsOf: (key: Key) => (key.equals(node) ? positions : undefined),
    of: () => undefined,
    onRegistered: () => undefined,
  } as unknown as MemberCapabilities;
  const host = {
    options,
    emit: () => undefined,
    reportError: (error: Error) => {
      throw error;
    },
    probe: () => Promise.resolve(true),
    contain: (error: unknown) => {
      throw error;
    },
  };
  const admission = new Admission(host, table, liveness, capabilities, (key) => table.unregister(key));
  return { admission, table, node, positions, lookups };
}

describe('Admission.announcedBy', () => {
  it('puts every position a member announces on the ring', () => {
    const { admission, table, node, positions } = admitting();
    table.register([positions[2]]);

    admission.announcedBy(node);

    expect(positions.every((position) => table.isMember(position))).toBe(true);
    admission.stop();
  });

  it('looks a member up once while none of the ring leaves: its every JOIN, INFO and PING announces it again', () => {
    const { admission, table, node, positions, lookups } = admitting();
    table.register(positions);
    admission.announcedBy(node);
    const first = lookups.count;

    for (let i = 0; i < 100; i++) admission.announcedBy(node);

    expect(first).toBeGreaterThanOrEqual(positions.length);
    expect(lookups.count).toBe(first);
    admission.stop();
  });

  it('looks again once a position left the ring, and puts it back', () => {
    const { admission, table, node, positions } = admitting();
    table.register(positions);
    admission.announcedBy(node);

    expect(table.unregister(positions[1])).toBe(true);
    admission.announcedBy(node);

    expect(table.isMember(positions[1])).toBe(true);
    admission.stop();
  });
});
