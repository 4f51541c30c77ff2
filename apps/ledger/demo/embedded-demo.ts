import { INestApplicationContext, INestMicroservice } from '@nestjs/common';
import { BrokerCounters, FlowClient, FlowServer, MemoryBus, RemoteError } from 'nestjs-flow';
import { Broker } from 'nestjs-flow/core';
import { waitFor } from 'nestjs-flow/testing';
import { LedgerStats, LedgerStore } from '../src/ledger.store';
import { LedgerStream } from '../src/ledger.streams';
import { MemoryBalanceSnapshots } from '../src/snapshots/memory-balance-snapshots';
import { FlowErrorTally } from './flow-error-tally';
import { LedgerAppLogger, startLedgerNode, startPublisher } from './ledger-apps';
import { LedgerLogger } from './ledger.logger';
import { textTable } from './text-table';
import { BalanceMismatch, compareBalances, planWorkload, publishWorkload, queryBalances, WorkloadOptions } from './workload';

export interface EmbeddedDemoOptions {
  /** Ledger nodes sharing the bus. Default 3. */
  readonly nodes?: number;
  /** Default: seed 42, 200 accounts, 20,000 commands, 1 % invalid. */
  readonly workload?: Partial<WorkloadOptions>;
  /**
   * Whether the last node leaves gracefully (app.close()) after half of the
   * workload; the rest goes to the others, which take its balances over.
   * Default true.
   */
  readonly leave?: boolean;
  /** Bound of each wait (ring, settling), ms. Default 15,000. */
  readonly timeoutMs?: number;
  /** Where the summary goes, line by line. Default console.log. */
  readonly print?: (line: string) => void;
  /** The Nest logger of every app. Default a LedgerLogger (warnings, errors, Flow and ledger notices). */
  readonly logger?: LedgerAppLogger;
}

export interface NodeReport extends LedgerStats {
  readonly name: string;
  /** Node key, 16 hex digits. */
  readonly node: string;
  /** Commands rejected on this node (validation or routing). */
  readonly rejected: number;
  /** Every error this node's FlowModule reported, by code. */
  readonly errors: Record<string, number>;
  readonly counters: BrokerCounters;
  /**
   * Ring positions of other nodes this node suspected (a forward or ping got
   * no answer within ackTimeout) and removed: each one moves keys away from
   * their owner, so it should stay 0.
   */
  readonly suspected: number;
}

export interface DemoReport {
  /** The self-check: balances, applied counts, ownership and rejections as expected. */
  readonly ok: boolean;
  readonly plan: { readonly accounts: number; readonly commands: number; readonly valid: number; readonly invalid: number };
  readonly nodes: readonly NodeReport[];
  readonly mismatches: readonly BalanceMismatch[];
  /** The node that left mid-run, if one did. */
  readonly left: string | undefined;
  /** Accounts held by no node, by several, or by one that is not their owner on the ring. */
  readonly ownershipProblems: readonly string[];
  readonly invalidQuery: { readonly code: string; readonly message: string; readonly details: unknown } | undefined;
  /** Set when a wait timed out or a step threw: the message. */
  readonly failure: string | undefined;
}

interface Node {
  readonly name: string;
  readonly app: INestMicroservice;
  readonly broker: Broker;
  readonly store: LedgerStore;
  readonly errors: FlowErrorTally;
  readonly suspected: { count: number };
}

const INVALID_QUERY = { accountId: 'ACC-1' } as const;

/**
 * The demo of `npm start` without NATS_URL: `nodes` ledger nodes and a
 * publisher in this process, on one MemoryBus, as separate processes would
 * be on one NATS server. Drives a seeded workload; after half of it, the
 * last node leaves gracefully (its balances go to the others through a
 * shared MemoryBalanceSnapshots) and the rest goes to the remaining nodes.
 * Waits until every command is settled (applied or rejected), prints what
 * each node did, queries every
 * balance through requests, checks them, shows an invalid query's error
 * reply, and closes every app. Never throws for a failed check: `ok` says.
 */
export async function runEmbeddedDemo(options: EmbeddedDemoOptions = {}): Promise<DemoReport> {
  const print = options.print ?? ((line: string) => console.log(line));
  const logger = options.logger ?? new LedgerLogger();
  const timeoutMs = options.timeoutMs ?? 15_000;
  const workload: WorkloadOptions = { seed: 42, accounts: 200, commands: 20_000, ...options.workload };
  const plan = planWorkload(workload);
  const bus = new MemoryBus();
  const snapshots = new MemoryBalanceSnapshots();
  const nodes: Node[] = [];
  /** The nodes on the ring: all but the one that left. */
  let serving: readonly Node[] = nodes;
  let publisher: INestApplicationContext | undefined;
  const report = {
    plan: { accounts: plan.accounts.length, commands: plan.commands.length, valid: plan.valid, invalid: plan.invalid },
    nodes: [] as NodeReport[],
    mismatches: [] as BalanceMismatch[],
    left: undefined as string | undefined,
    ownershipProblems: [] as string[],
    invalidQuery: undefined as DemoReport['invalidQuery'],
    failure: undefined as string | undefined,
  };
  const started = Date.now();
  try {
    const count = options.nodes ?? 3;
    print(`Flow ledger demo: ${count} ledger nodes and a publisher in one process, on one embedded MemoryBus`);
    for (let i = 1; i <= count; i++) {
      const name = `ledger-${i}`;
      const app = await startLedgerNode({ embedded: { bus }, nodeName: name }, logger, snapshots);
      const broker = app.get(FlowServer).unwrap<Broker>();
      const suspected = { count: 0 };
      broker.on('suspected', () => suspected.count++);
      nodes.push({ name, app, broker, store: app.get(LedgerStore), errors: app.get(FlowErrorTally), suspected });
    }
    publisher = await startPublisher({ embedded: { bus }, nodeName: 'ledger-publisher' }, logger);
    const client = publisher.get(FlowClient);

    const ringOf = (members: readonly Node[]): Promise<number> => {
      const positions = members.reduce((sum, node) => sum + node.broker.options.virtualNodes, 0);
      const viewers = [...members.map((node) => node.broker), publisher!.get(FlowClient).unwrap<Broker>()];
      return waitFor(() => viewers.every((broker) => broker.snapshot().members.length === positions), {
        bus,
        timeoutMs,
        what: `a ring of ${positions} positions on every node and the publisher`,
      }).then(() => positions);
    };
    const positions = await ringOf(nodes);
    print(
      `ring converged: ${positions} positions (${count} nodes x ${positions / count} virtual nodes) after ${Date.now() - started} ms`,
    );

    const total = (of: (node: Node) => number): number => nodes.reduce((sum, node) => sum + of(node), 0);
    const applied = () => total((node) => node.store.stats.applied);
    const rejected = () => total((node) => node.errors.rejected);
    const settle = (commands: readonly { valid: boolean }[]): Promise<void> => {
      const valid = commands.filter((command) => command.valid).length;
      return waitFor(() => applied() >= valid && rejected() >= commands.length - valid, {
        bus,
        timeoutMs,
        what: `${valid} applied and ${commands.length - valid} rejected commands`,
      });
    };
    const leaving = (options.leave ?? true) && nodes.length > 1 ? nodes[nodes.length - 1] : undefined;
    const half = leaving === undefined ? plan.commands.length : Math.floor(plan.commands.length / 2);
    const publishing = Date.now();
    await publishWorkload(client, { ...plan, commands: plan.commands.slice(0, half) }, { pace: () => bus.idle() });
    if (leaving !== undefined) {
      await settle(plan.commands.slice(0, half));
      const held = leaving.store.stats.accounts;
      await leaving.app.close();
      serving = nodes.filter((node) => node !== leaving);
      report.left = leaving.name;
      await ringOf(serving);
      print(
        `graceful leave: ${leaving.name} left after ${half} commands; its released hook handed over ${leaving.store.stats.handedOver} ` +
          `of the ${held} balances it held; the others take them over as they acquire its ranges`,
      );
      await publishWorkload(client, { ...plan, commands: plan.commands.slice(half) }, { pace: () => bus.idle() });
    }
    print(
      `workload: seed ${workload.seed}, ${plan.accounts.length} accounts, ${plan.commands.length} deposits/withdrawals ` +
        `(${plan.valid} valid, ${plan.invalid} invalid), published in ${Date.now() - publishing} ms`,
    );
    await settle(plan.commands);
    print(`settled after ${Date.now() - publishing} ms: ${applied()} commands applied, ${rejected()} rejected by validation`);
    print('');
    report.nodes = nodes.map(nodeReport);
    for (const line of nodeTable(report.nodes)) print(line);
    print('');

    const replies = await queryBalances(client, plan.accounts);
    report.mismatches = compareBalances(plan, replies);
    const matching = replies.length - report.mismatches.length;
    print(`balances: ${replies.length} accounts queried by request, ${matching} equal the expected balance and applied count`);
    for (const mismatch of report.mismatches.slice(0, 10)) print(`  mismatch ${JSON.stringify(mismatch)}`);

    report.ownershipProblems = ownershipProblems(serving, plan.accounts, (id) => plan.expected.get(id)!.applied > 0);
    print(
      report.ownershipProblems.length === 0
        ? 'ownership: every account is held by exactly one node, the owner of its key on the ring'
        : `ownership: ${report.ownershipProblems.length} problems, first: ${report.ownershipProblems[0]}`,
    );

    report.invalidQuery = await invalidQueryReply(client);
    print(`invalid query ${JSON.stringify(INVALID_QUERY)} -> ${describeReply(report.invalidQuery)}`);
  } catch (error) {
    report.failure = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    print(`demo failed: ${report.failure}`);
  } finally {
    const closing = Date.now();
    const open = nodes.filter((node) => node.name !== report.left);
    await Promise.all([publisher?.close(), ...open.map((node) => node.app.close())]);
    print(`closed ${open.length} nodes and the publisher in ${Date.now() - closing} ms`);
  }
  const rejected = report.nodes.reduce((sum, node) => sum + node.rejected, 0);
  const suspected = report.nodes.reduce((sum, node) => sum + node.suspected, 0);
  const problems = [
    report.failure,
    report.mismatches.length > 0 ? `${report.mismatches.length} balances differ` : undefined,
    report.ownershipProblems.length > 0 ? `${report.ownershipProblems.length} accounts not held by their owner alone` : undefined,
    rejected !== plan.invalid ? `${rejected} commands rejected, ${plan.invalid} invalid ones sent` : undefined,
    suspected > 0 ? `${suspected} ring positions suspected (forwards timed out under load)` : undefined,
    report.invalidQuery?.code !== 'HTTP_400' ? 'the invalid query got no HTTP_400 error reply' : undefined,
  ].filter((problem) => problem !== undefined);
  const ok = problems.length === 0;
  print(
    ok
      ? `self-check passed: all ${plan.accounts.length} balances equal the expected ones (${Date.now() - started} ms in all)`
      : `self-check FAILED: ${problems.join('; ')}`,
  );
  return { ok, ...report };
}

function nodeReport(node: Node): NodeReport {
  return {
    name: node.name,
    node: node.broker.nodeKey.toString(),
    ...node.store.stats,
    rejected: node.errors.rejected,
    errors: node.errors.counts(),
    counters: node.broker.counters,
    suspected: node.suspected.count,
  };
}

/** The figures of the node table, each summed in the total row. */
const COLUMNS: readonly (readonly [string, (node: NodeReport) => number])[] = [
  ['accounts', (node) => node.accounts],
  ['applied', (node) => node.applied],
  ['overdrafts', (node) => node.overdrafts],
  ['duplicates', (node) => node.duplicates],
  ['handed over', (node) => node.handedOver],
  ['taken over', (node) => node.takenOver],
  ['rejected', (node) => node.rejected],
  ['received', (node) => node.counters.received],
  ['forwarded', (node) => node.counters.forwarded],
  ['handled', (node) => node.counters.handled],
  ['failed', (node) => node.counters.failed],
  ['retried', (node) => node.counters.retried],
  ['dropped', (node) => node.counters.dropped],
  ['suspected', (node) => node.suspected],
];

function nodeTable(nodes: readonly NodeReport[]): string[] {
  const rows = nodes.map((node) => [node.name, node.node, ...COLUMNS.map(([, figure]) => figure(node))]);
  const totals = COLUMNS.map(([, figure]) => nodes.reduce((sum, node) => sum + figure(node), 0));
  return textTable(['node', 'node key', ...COLUMNS.map(([name]) => name)], [...rows, ['total', '', ...totals]]);
}

/**
 * Every account with applied commands must be held by exactly one node, and
 * that node must hold the ring position that owns the account's key.
 */
function ownershipProblems(nodes: readonly Node[], accounts: readonly string[], used: (id: string) => boolean): string[] {
  const nodeOfPosition = new Map<string, string>();
  for (const node of nodes) {
    for (const position of node.broker.snapshot().positions) nodeOfPosition.set(position.toString(), node.name);
  }
  const holders = new Map<string, string[]>();
  for (const node of nodes) {
    for (const id of node.store.accountIds()) holders.set(id, [...(holders.get(id) ?? []), node.name]);
  }
  const problems: string[] = [];
  for (const id of accounts) {
    const held = holders.get(id) ?? [];
    const owner = nodeOfPosition.get(nodes[0].broker.ownerOf(id)?.toString() ?? '');
    if (held.length === 0 && !used(id)) continue;
    if (held.length !== 1) problems.push(`${id} is held by ${held.length} nodes (${held.join(', ')})`);
    else if (held[0] !== owner) problems.push(`${id} is held by ${held[0]}, but ${owner} owns its key`);
  }
  return problems;
}

async function invalidQueryReply(client: FlowClient): Promise<DemoReport['invalidQuery']> {
  try {
    const reply = await client.request(LedgerStream.Balance, INVALID_QUERY, { key: INVALID_QUERY.accountId });
    throw new Error(`the invalid query was answered: ${JSON.stringify(reply)}`);
  } catch (error) {
    if (!(error instanceof RemoteError)) throw error;
    return { code: error.code, message: error.message, details: error.details };
  }
}

function describeReply(reply: DemoReport['invalidQuery']): string {
  if (reply === undefined) return 'no reply';
  return `RemoteError ${reply.code}: ${reply.message}; details ${JSON.stringify(reply.details)}`;
}
