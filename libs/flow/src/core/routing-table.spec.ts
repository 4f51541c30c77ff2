import { InvalidOptionError } from './errors';
import { Key, parseKey } from './key';
import { RoutingTable } from './routing-table';

/** A key whose top byte is `top` (hex, two digits) and whose other bytes are zero. */
const k = (top: string): Key => parseKey(`${top}00000000000000`);
const hex = (keys: readonly Key[]): string[] => keys.map((key) => key.toString().slice(0, 2));

function table(local: string[], remote: string[], successors = 5, stabilizers = 5): RoutingTable {
  const t = new RoutingTable({ local: local.map(k), successors, stabilizers });
  t.register(remote.map(k));
  return t;
}

describe('RoutingTable', () => {
  it('rejects a table without local positions and negative counts, naming the option', () => {
    expect(() => new RoutingTable({ local: [], successors: 5, stabilizers: 5 })).toThrow(InvalidOptionError);
    expect(() => new RoutingTable({ local: [k('10')], successors: -1, stabilizers: 5 })).toThrow(/successors/);
    expect(() => new RoutingTable({ local: [k('10')], successors: 5, stabilizers: 1.5 })).toThrow(/stabilizers/);
  });

  it('owns every partition itself while it knows no other member', () => {
    const t = table(['80'], []);
    expect(t.ownerOf(k('00'))).toEqual(k('80'));
    expect(t.ownerOf(k('ff'))).toEqual(k('80'));
    expect(t.remoteCount()).toBe(0);
  });

  it('splits ownership between virtual nodes and remote members by ring arcs', () => {
    const t = table(['10', '80'], ['40', 'c0']);
    expect(hex([k('05'), k('10'), k('20'), k('50'), k('90'), k('d0')].map((p) => t.ownerOf(p)))).toEqual([
      '10',
      '10',
      '40',
      '80',
      'c0',
      '10',
    ]);
    expect(t.isLocal(k('80'))).toBe(true);
    expect(t.isLocal(k('40'))).toBe(false);
    expect(hex(t.members())).toEqual(['10', '40', '80', 'c0']);
    expect(t.remoteCount()).toBe(2);
  });

  it('reports only the remote keys it did not know when registering', () => {
    const t = table(['50'], []);
    expect(hex(t.register([k('50'), k('20'), k('70'), k('20')]))).toEqual(['20', '70']);
    expect(hex(t.register([k('70'), k('90')]))).toEqual(['90']);
    expect(t.register([])).toEqual([]);
    expect(t.remoteCount()).toBe(3);
  });

  it('never unregisters a local position', () => {
    const t = table(['50', 'a0'], ['20']);
    expect(t.unregister(k('50'))).toBe(false);
    expect(t.unregister(k('a0'))).toBe(false);
    expect(t.unregister(k('99'))).toBe(false);
    expect(t.unregister(k('20'))).toBe(true);
    expect(hex(t.members())).toEqual(['50', 'a0']);
    expect(t.ownerOf(k('10'))).toEqual(k('50'));
  });

  describe('neighbours', () => {
    const ring = ['10', '20', '30', '40', '60', '70', '80', '90'];

    it('lists the predecessor, the successors, then the position itself', () => {
      expect(hex(table(['50'], ring, 2).neighbours(k('50')))).toEqual(['40', '60', '70', '50']);
    });

    it('wraps around both ends of the ring', () => {
      expect(hex(table(['a0'], ring, 2).neighbours(k('a0')))).toEqual(['90', '10', '20', 'a0']);
      expect(hex(table(['05'], ring, 2).neighbours(k('05')))).toEqual(['90', '10', '20', '05']);
    });

    it('walks the ring when the other members number exactly successors + 1', () => {
      expect(hex(table(['50'], ['10', '40', '60', '90'], 3).neighbours(k('50')))).toEqual([
        '40',
        '60',
        '90',
        '10',
        '50',
      ]);
    });

    it('lists every other member in ascending order when there are fewer than successors + 1', () => {
      expect(hex(table(['50'], ['90', '10', '60'], 3).neighbours(k('50')))).toEqual(['10', '60', '90', '50']);
      expect(hex(table(['50'], [], 5).neighbours(k('50')))).toEqual(['50']);
    });

    it('counts the other virtual nodes as ordinary members', () => {
      expect(hex(table(['30', '70'], ['10', '50', '90'], 2).neighbours(k('30')))).toEqual(['10', '50', '70', '30']);
    });
  });

  describe('stabilizers', () => {
    it('pings nobody while alone', () => {
      expect(table(['50', 'a0'], []).stabilizers()).toEqual([]);
    });

    it('pings every remote member, in ring order, when they are few', () => {
      const t = table(['50', 'a0'], ['c0', '20', '60'], 5, 2);
      expect(hex(t.stabilizers())).toEqual(['20', '60', 'c0']);
      expect(hex(t.stabilizers())).toEqual(['20', '60', 'c0']);
    });

    it('pings the remote successor of each local position first, skipping successors that are local', () => {
      // 30 -> 40 (remote), 70 -> 80 (local), 80 -> 90 (remote).
      const t = table(['30', '70', '80'], ['10', '20', '40', '50', '60', '90', 'a0', 'b0'], 5, 2);
      for (let round = 0; round < 5; round++) {
        const picked = hex(t.stabilizers());
        expect(picked.slice(0, 2)).toEqual(['40', '90']);
        expect(picked).toHaveLength(4);
      }
    });

    it('rotates so that every remote member is pinged within ceil(remote / stabilizers) rounds', () => {
      const cases = [
        { local: ['50'], remote: 20, stabilizers: 3 },
        { local: ['50'], remote: 7, stabilizers: 1 },
        { local: ['05', '55', 'a5', 'f5'], remote: 40, stabilizers: 5 },
        { local: ['00', 'ff'], remote: 30, stabilizers: 4 },
      ];
      for (const { local, remote, stabilizers } of cases) {
        // Evenly spread high halves; low half 1 so that no remote key equals a local one.
        const spread = (i: number): number => Math.floor(((i + 0.5) * 0x100000000) / remote);
        const remoteKeys = Array.from({ length: remote }, (_, i) => new Key(spread(i), 1));
        const t = new RoutingTable({ local: local.map(k), successors: 5, stabilizers });
        t.register(remoteKeys);
        const seen = new Set<string>();
        for (let round = 0; round < Math.ceil(remote / stabilizers); round++) {
          const picked = t.stabilizers();
          expect(new Set(picked.map(String)).size).toBe(picked.length);
          for (const key of picked) {
            expect(t.isLocal(key)).toBe(false);
            seen.add(key.toString());
          }
        }
        expect(seen.size).toBe(remote);
      }
    });

    it('keeps rotating after the ring changes', () => {
      const t = table(['50'], ['10', '20', '30', '40', '60', '70', '80', '90'], 5, 2);
      t.stabilizers();
      t.unregister(k('10'));
      t.unregister(k('20'));
      t.register([k('a0')]);
      const seen = new Set<string>();
      for (let round = 0; round < 4; round++) for (const key of t.stabilizers()) seen.add(key.toString().slice(0, 2));
      expect([...seen].sort()).toEqual(['30', '40', '60', '70', '80', '90', 'a0']);
    });
  });
});
