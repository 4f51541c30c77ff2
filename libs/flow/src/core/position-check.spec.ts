import { ManualClock } from '../testing/manual-clock';
import { Key } from './key';
import { POSITION_CHECK_BATCH, PositionCheck } from './position-check';

const DELAY = 100;

/** A check over a made-up ring: `nodes` maps each listed position to its broker; `alive` brokers (or positions) answer probes. */
function harness(nodes: Map<string, string>, alive: Set<string>) {
  const clock = new ManualClock();
  const members = new Set<string>();
  const probed: string[] = [];
  const removed: string[][] = [];
  const pending: (() => void)[] = [];
  const looks = { nodeOf: 0 };
  const check = new PositionCheck({
    clock,
    delayMs: DELAY,
    probe: (key) => {
      probed.push(key.toString());
      const node = nodes.get(key.toString()) ?? key.toString();
      // Answered when the test releases it, as a transport's probe would be later.
      return new Promise((resolve) => pending.push(() => resolve(alive.has(node))));
    },
    nodeOf: (key) => {
      looks.nodeOf++;
      return nodes.get(key.toString()) ?? key.toString();
    },
    isMember: (key) => members.has(key.toString()),
    remove: (dead) => {
      removed.push(dead.map(String));
      for (const key of dead) members.delete(key.toString());
    },
    contain: (error) => {
      throw error;
    },
  });
  const learn = (keys: Key[]): void => {
    for (const key of keys) members.add(key.toString());
    check.enqueue(keys);
  };
  /** Answers every probe in flight, and those its answers start, until none is left. */
  const answerAll = async (): Promise<void> => {
    for (let round = 0; round < 1_000 && (pending.length > 0 || check.pending > 0); round++) {
      for (const answer of pending.splice(0)) answer();
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  };
  return { clock, check, probed, removed, members, looks, learn, answerAll };
}

const positions = (hi: number, count: number): Key[] => Array.from({ length: count }, (_, i) => new Key(hi, i + 1));

describe('PositionCheck', () => {
  it("probes one of a broker's listed positions for all of them, and each unlisted position itself", async () => {
    const a = positions(1, 8);
    const b = positions(2, 8);
    const unlisted = positions(3, 3);
    const nodes = new Map([...a.map((k): [string, string] => [k.toString(), 'node-a']), ...b.map((k): [string, string] => [k.toString(), 'node-b'])]);
    const h = harness(nodes, new Set(['node-a', 'node-b']));
    h.learn([...a, ...b, ...unlisted]);

    h.clock.advance(DELAY - 1);
    expect(h.probed).toEqual([]);
    h.clock.advance(1);
    await h.answerAll();

    expect(h.probed.filter((p) => nodes.get(p) === 'node-a')).toHaveLength(1);
    expect(h.probed.filter((p) => nodes.get(p) === 'node-b')).toHaveLength(1);
    expect(h.probed.filter((p) => !nodes.has(p)).sort()).toEqual(unlisted.map(String).sort());
    // The unlisted positions answer nobody: they leave, in one removal; the brokers' positions stay.
    expect(h.removed).toEqual([unlisted.map(String)]);
    expect(h.members.size).toBe(16);
  });

  it('removes every queued position of a broker whose probed position has no subscriber', async () => {
    const gone = positions(4, 8);
    const nodes = new Map(gone.map((k): [string, string] => [k.toString(), 'node-gone']));
    const h = harness(nodes, new Set());
    h.learn(gone);
    h.clock.advance(DELAY);
    await h.answerAll();

    expect(h.probed).toHaveLength(1);
    expect(h.removed.flat().sort()).toEqual(gone.map(String).sort());
    expect(h.members.size).toBe(0);
  });

  it('keeps at most POSITION_CHECK_BATCH probes in flight, however the positions group', async () => {
    const many = positions(5, POSITION_CHECK_BATCH + 10);
    const listed = positions(6, 50);
    const nodes = new Map(listed.map((k): [string, string] => [k.toString(), 'node-listed']));
    const h = harness(nodes, new Set(['node-listed']));
    h.learn([...listed, ...many]);
    h.clock.advance(DELAY);
    await new Promise<void>((resolve) => setImmediate(resolve));

    // The first batch: the listed broker's one probe and 63 unlisted positions.
    expect(h.probed).toHaveLength(POSITION_CHECK_BATCH);
    await h.answerAll();
    expect(h.probed).toHaveLength(1 + many.length);
    expect(h.members.size).toBe(listed.length);
  });

  it('looks at each queued position about once however many batches a flood of unlisted positions takes', async () => {
    const flood = positions(9, 2_000);
    const h = harness(new Map(), new Set());
    h.learn(flood);
    h.clock.advance(DELAY);
    await h.answerAll();

    const batches = Math.ceil(flood.length / POSITION_CHECK_BATCH);
    expect(h.probed).toHaveLength(flood.length);
    expect(h.removed).toHaveLength(batches);
    // Once each, and once more for the position that ends each full batch.
    expect(h.looks.nodeOf).toBeLessThanOrEqual(flood.length + batches);
    expect(h.members.size).toBe(0);
  });

  it('does not probe for a position that left the ring while queued', async () => {
    const a = positions(7, 4);
    const nodes = new Map(a.map((k): [string, string] => [k.toString(), 'node-a']));
    const h = harness(nodes, new Set(['node-a']));
    h.learn(a);
    const lone = new Key(8, 1);
    h.learn([lone]);
    h.members.delete(lone.toString());
    h.clock.advance(DELAY);
    await h.answerAll();

    expect(h.probed).toHaveLength(1);
    expect(h.probed[0]).not.toBe(lone.toString());
    expect(h.removed).toEqual([]);
  });
});
