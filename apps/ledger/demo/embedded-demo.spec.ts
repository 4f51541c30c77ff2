import { DemoReport, runEmbeddedDemo } from './embedded-demo';

describe('the embedded demo (npm start without NATS_URL)', () => {
  const lines: string[] = [];
  let report: DemoReport;

  beforeAll(async () => {
    report = await runEmbeddedDemo({
      workload: { seed: 7, accounts: 40, commands: 2_000, invalidRate: 0.02 },
      print: (line) => lines.push(line),
      logger: false,
    });
  }, 30_000);

  it('passes its self-check: every balance and applied count as expected, nothing failed', () => {
    expect(report.failure).toBeUndefined();
    expect(report.mismatches).toEqual([]);
    expect(report.ok).toBe(true);
    expect(lines.at(-1)).toMatch(/^self-check passed: all 40 balances equal the expected ones/);
  });

  it('applies every valid command once, spread over all three nodes (ledger-3 until it left), without a retry or a suspicion', () => {
    expect(report.nodes.map((node) => node.name)).toEqual(['ledger-1', 'ledger-2', 'ledger-3']);
    expect(report.nodes.reduce((sum, node) => sum + node.applied, 0)).toBe(report.plan.valid);
    expect(report.nodes.every((node) => node.applied > 0)).toBe(true);
    expect(report.nodes.map((node) => node.accounts > 0)).toEqual([true, true, false]);
    // The publisher knows the ring and sends each command to its owner: no node forwards.
    expect(report.nodes.reduce((sum, node) => sum + node.counters.forwarded, 0)).toBe(0);
    expect(report.nodes.reduce((sum, node) => sum + node.counters.dropped, 0)).toBe(0);
    expect(report.nodes.map((node) => [node.counters.retried, node.suspected])).toEqual([[0, 0], [0, 0], [0, 0]]);
  });

  it('counts every invalid command as rejected by validation, as Flow counts it failed', () => {
    expect(report.plan.invalid).toBeGreaterThan(0);
    expect(report.nodes.reduce((sum, node) => sum + node.rejected, 0)).toBe(report.plan.invalid);
    expect(report.nodes.reduce((sum, node) => sum + node.counters.failed, 0)).toBe(report.plan.invalid);
    expect(report.nodes.every((node) => Object.keys(node.errors).every((code) => code === 'HTTP_400'))).toBe(true);
  });

  it('holds every account on exactly one node, the owner of its key', () => {
    expect(report.ownershipProblems).toEqual([]);
    expect(report.nodes.reduce((sum, node) => sum + node.accounts, 0)).toBe(40);
  });

  it('lets ledger-3 leave gracefully after half of the workload, its balances taken over by the others', () => {
    expect(report.left).toBe('ledger-3');
    const [first, second, left] = report.nodes;
    expect(left.accounts).toBe(0);
    expect(left.handedOver).toBeGreaterThan(0);
    expect(first.takenOver + second.takenOver).toBe(left.handedOver);
    expect(lines).toContainEqual(expect.stringMatching(/^graceful leave: ledger-3 left after 1000 commands; its released hook handed over \d+ of the \d+ balances/));
  });

  it('shows the error reply of an invalid query', () => {
    expect(report.invalidQuery).toMatchObject({
      code: 'HTTP_400',
      details: { message: ['accountId must match /^acc-[0-9]+$/ regular expression'] },
    });
    expect(lines).toContainEqual(expect.stringMatching(/^invalid query \{"accountId":"ACC-1"\} -> RemoteError HTTP_400/));
  });

  it('prints a row per node and a total', () => {
    const table = lines.filter((line) => /^(node|ledger-\d|total) /.test(line));
    expect(table.map((line) => line.split(/\s+/)[0])).toEqual(['node', 'ledger-1', 'ledger-2', 'ledger-3', 'total']);
  });
});
