import { Broker } from '../../src/core/broker';
import { ErrorCode, FlowError } from '../../src/core/errors';
import { MemoryBus } from '../../src/core/memory-pubsub';
import { BrokerOptions } from '../../src/core/options';
import { ManualClock } from '../../src/testing/manual-clock';
import { SeededRandom, seededRandom } from '../../src/testing/seeded-random';
import { PublisherStop, Schedule, SimEvent } from './schedule';
import { SimConnection } from './sim-connection';
import { describeFrame } from './frame-log';
import { emptyTrace, PublishRecord, Trace } from './trace';

export const STREAM = 'sim';
/** The request stream (ScheduleOptions.requests): one stream serves one kind, messages or requests. */
export const REQUEST_STREAM = 'sim-req';

/** Broker options of every simulated broker: short timers, so a run spans few virtual seconds. */
export const SIM_BROKER = Object.freeze({ virtualNodes: 4, ackTimeout: 50, stabilizationMs: 100 });

/** Bus drains per settle() before a run is declared wedged: far above any real need. */
const MAX_SETTLE_ROUNDS = 10_000;

interface Instance {
  readonly node: string;
  readonly name: string;
  readonly broker: Broker;
  readonly connection: SimConnection;
  crashed: boolean;
  gone: boolean;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * One simulated run of a schedule: brokers and publishers on one MemoryBus,
 * all timers on one ManualClock, every random choice from the schedule's
 * seed. The driver advances the clock to the next due timer, lets the bus
 * settle, samples the rings, and repeats until the schedule's end.
 */
export class World {
  readonly trace: Trace;
  private readonly clock = new ManualClock();
  private readonly bus = new MemoryBus();
  /** Fault decisions; a stream of its own, so that faults do not shift the schedule. */
  private readonly random: SeededRandom;
  private readonly instances = new Map<string, Instance>();
  /**
   * By publisher number in the trace: the schedule's publishers, then each restarted one under a new number, and
   * each handling broker's instance that publishes (memberPublishers), with their connections.
   */
  private readonly publishers: { readonly broker: Broker; readonly connection: SimConnection }[] = [];
  /** By the schedule's publisher: its number in the trace now (a restart gives it a new one). */
  private readonly current: number[] = [];
  /** Publisher numbers whose broker is stopping or stopped: a FLOW_CLOSED rejection there is outcome 'closed'. */
  private readonly stopped = new Map<number, Promise<unknown>>();
  /** The last sequence number each member publisher (by number) gave a publish. */
  private readonly memberSeqs: number[] = [];
  private readonly starts = new Map<string, number>();
  /** Keyed requests sent through the queue group (their publisher's view unknown): counted apart from publishes. */
  private requestsViaQueueGroup = 0;
  private readonly connections: SimConnection[] = [];

  /** `log`: given, receives a line per delivery on the bus (frame-log.ts). */
  constructor(
    private readonly schedule: Schedule,
    private readonly log?: (line: string) => void,
  ) {
    this.trace = emptyTrace(schedule.seed);
    this.random = seededRandom(schedule.seed ^ 0x5eed);
    const { drop } = schedule.faults;
    if (drop > 0 || log !== undefined) {
      this.bus.setFault((d) => {
        const stream = d.subject === STREAM || d.subject === REQUEST_STREAM;
        const decision = drop > 0 && !stream && this.faulty() && this.random.next() < drop ? 'drop' : 'deliver';
        if (log !== undefined) {
          const what = stream ? `stream ${d.data.length} bytes` : describeFrame(d.data, (key) => this.nameOf(key));
          log(`${String(this.clock.now()).padStart(6)}  ${d.from} -> ${d.to}${decision === 'drop' ? ' DROPPED' : ''}: ${what}`);
        }
        return decision;
      });
    }
  }

  async run(): Promise<Trace> {
    for (let p = 0; p < this.schedule.publishers; p++) await this.settled(this.startPublisher(p));
    for (const node of this.schedule.initial) {
      this.trace.changes.push({ at: 0, kind: 'start', node });
      await this.settled(this.startNode(node));
    }
    for (const event of this.schedule.events) this.clock.setTimeout(() => this.apply(event), event.at - this.clock.now());
    const { endAt } = this.schedule;
    for (let next = this.clock.nextDue(); next !== undefined && next <= endAt; next = this.clock.nextDue()) {
      this.clock.advance(next - this.clock.now());
      await this.settle();
      this.sampleRings();
    }
    this.clock.advance(endAt - this.clock.now());
    await this.settle();
    this.sampleRings();
    this.trace.endAt = endAt;
    this.trace.faultsUntil = this.schedule.faultsUntil;
    // BrokerCounters.viaQueueGroup counts requests too; a request has no order and no (c) to lose.
    this.trace.viaQueueGroup = this.publishers.reduce((sum, { broker }) => sum + broker.counters.viaQueueGroup, 0) - this.requestsViaQueueGroup;
    this.trace.requestsViaQueueGroup = this.requestsViaQueueGroup;
    this.trace.refusedLate.push(...this.publishers.map(({ broker }) => broker.counters.refusedLate));
    this.trace.unsettledAtEnd.push(...this.publishers.map(({ broker }) => broker.load.publishesUnsettled));
    await this.closeAll();
    return this.trace;
  }

  private apply(event: SimEvent): void {
    if (event.kind === 'publish') return this.publish(event);
    if (event.kind === 'publisher-stop') return this.stopPublisher(event.publisher, event.how);
    if (event.kind === 'publisher-start') {
      const stopping = this.stopped.get(this.current[event.publisher]) ?? Promise.resolve();
      // Under its node name again, once the stopped instance has let go of its subscriptions.
      this.track(stopping.then(() => this.startPublisher(event.publisher)));
      return;
    }
    const { at, kind, node } = event;
    this.trace.changes.push({ at, kind, node });
    if (kind === 'join' || kind === 'restart') {
      this.track(this.startNode(node));
      return;
    }
    const instance = this.instances.get(node);
    if (instance === undefined || instance.gone) return;
    if (kind === 'disconnect') {
      instance.connection.inner.disconnect();
      this.clock.setTimeout(() => {
        if (instance.gone) return;
        this.trace.changes.push({ at: this.clock.now(), kind: 'reconnect', node });
        instance.connection.inner.reconnect();
      }, event.forMs);
      return;
    }
    instance.gone = true;
    const number = this.trace.members[instance.name];
    if (number !== undefined && (kind === 'crash' || event.how === 'close')) this.trace.stoppedUndrained.push(number);
    if (kind === 'crash') {
      instance.crashed = true;
      instance.connection.kill();
      for (const run of this.trace.runs) {
        if (run.instance === instance.name && run.end === undefined) Object.assign(run, { end: at, cut: true });
      }
    }
    const leaving = event.kind === 'leave' && event.how === 'shutdown' ? instance.broker.shutdown({ timeout: 1_000 }) : instance.broker.close();
    if (number !== undefined) this.stopped.set(number, leaving);
    this.track(leaving.finally(() => instance.connection.close()));
  }

  /** From the scheduled publisher, or from the handling broker `from` names when that is live and joined (memberPublishers). */
  private publish({ publisher: scheduled, key, seq: scheduledSeq, from, request }: Extract<SimEvent, { kind: 'publish' }>): void {
    const member = from === undefined ? undefined : this.instances.get(from);
    const joined = member !== undefined && !member.gone && member.broker.snapshot().joined;
    const publisher = joined ? this.memberNumber(member) : this.current[scheduled];
    // A member's publishes are numbered per instance as they happen; the scheduled publishers keep the schedule's.
    const seq = joined ? (this.memberSeqs[publisher] = (this.memberSeqs[publisher] ?? -1) + 1) : scheduledSeq;
    const record: PublishRecord = { publisher, seq, key, at: this.clock.now(), outcome: 'pending', ...(request === true ? { request } : {}) };
    this.trace.publishes.push(record);
    const { broker } = this.publishers[publisher];
    const data = utf8.encode(`${publisher}:${seq}`);
    const rejected = (error: unknown): void => {
      const { code } = error as FlowError;
      record.outcome = this.stopped.has(publisher) && code === ErrorCode.Closed ? 'closed' : 'rejected';
      if (request === true) record.code = code;
    };
    if (request !== true) {
      broker.publish(STREAM, data, { key }).then(() => (record.outcome = 'resolved'), rejected);
      return;
    }
    const before = broker.counters.viaQueueGroup;
    broker.request(REQUEST_STREAM, data, { key }).then((reply) => {
      record.outcome = 'resolved';
      record.reply = fromUtf8.decode(reply);
    }, rejected);
    // Counted within the call when the request took the queue group.
    this.requestsViaQueueGroup += broker.counters.viaQueueGroup - before;
  }

  /** A handling broker's instance as a publisher: its number in the trace, the next one at its first publish. */
  private memberNumber(instance: Instance): number {
    let number = this.trace.members[instance.name];
    if (number === undefined) {
      number = this.publishers.length;
      this.trace.members[instance.name] = number;
      this.publishers.push(instance);
    }
    return number;
  }

  /** Starts the schedule's publisher `scheduled` (again) under its node name, with the next number in the trace. */
  private async startPublisher(scheduled: number): Promise<void> {
    const number = this.publishers.length;
    const connection = this.connect(`pub-${number}`);
    const publisher = new Broker(connection, this.options(`pub-${scheduled}`, false));
    this.publishers.push({ broker: publisher, connection });
    if (scheduled < this.current.length) this.trace.changes.push({ at: this.clock.now(), kind: 'publisher-start', node: `pub-${number}` });
    await publisher.start();
    this.current[scheduled] = number;
  }

  private stopPublisher(scheduled: number, how: PublisherStop): void {
    const number = this.current[scheduled];
    const { broker: publisher, connection } = this.publishers[number];
    this.trace.changes.push({ at: this.clock.now(), kind: `publisher-${how}`, node: `pub-${number}` });
    if (how === 'crash') connection.kill();
    if (how !== 'shutdown') this.trace.stoppedUndrained.push(number);
    const stopping = (how === 'shutdown' ? publisher.shutdown({ timeout: 1_000 }) : publisher.close()).catch(() => publisher.close());
    this.stopped.set(number, stopping);
    this.track(stopping);
  }

  private async startNode(node: string): Promise<void> {
    const count = (this.starts.get(node) ?? 0) + 1;
    this.starts.set(node, count);
    const name = `${node}#${count}`;
    const connection = this.connect(name);
    const broker = new Broker(connection, this.options(node, true));
    const instance: Instance = { node, name, broker, connection, crashed: false, gone: false };
    this.instances.set(node, instance);
    await broker.handle(STREAM, (delivery) => this.handle(instance, delivery.partitionKey, delivery.data));
    if (this.schedule.requests) {
      await broker.handleRequest(REQUEST_STREAM, async (delivery) => {
        await this.handle(instance, delivery.partitionKey, delivery.data, true);
        return utf8.encode(instance.name);
      });
    }
    await broker.start().catch(() => undefined);
  }

  /** Runs 1..8 virtual ms (fixed per message), recording start and end; `request`: a request's run. */
  private handle(instance: Instance, partitionKey: Uint8Array, data: Uint8Array, request = false): Promise<void> | void {
    if (instance.crashed) return;
    const [publisher, seq] = fromUtf8.decode(data).split(':').map(Number);
    const run = {
      node: instance.node,
      instance: instance.name,
      key: fromUtf8.decode(partitionKey),
      publisher,
      seq,
      start: this.clock.now(),
      end: undefined as number | undefined,
      cut: false,
      ...(request ? { request: true as const } : {}),
    };
    this.trace.runs.push(run);
    return new Promise((resolve) => {
      this.clock.setTimeout(
        () => {
          if (!run.cut) run.end = this.clock.now();
          resolve();
        },
        1 + ((seq * 7 + publisher * 3) % 8),
      );
    });
  }

  private sampleRings(): void {
    const live = [...this.instances.values()].filter((i) => !i.gone).map((i) => i.broker.snapshot());
    const joined = live.filter((s) => s.joined);
    const truth = joined.flatMap((s) => s.positions.map(String)).sort().join(',');
    const converged = joined.every((s) => s.members.map(String).sort().join(',') === truth);
    const at = this.clock.now();
    if (!converged && at === this.schedule.endAt) {
      const expected = new Set(truth.split(','));
      for (const s of joined) {
        const members = new Set(s.members.map(String));
        const missing = [...expected].filter((k) => !members.has(k)).map((k) => this.holderOf(k));
        const extra = [...members].filter((k) => !expected.has(k));
        if (missing.length + extra.length > 0) {
          this.trace.ringsAtEnd.push(`${this.nameOf(s.nodeKey)} lacks positions of [${missing.join(', ')}], has ${extra.length} extra`);
        }
      }
    }
    const last = this.trace.rings[this.trace.rings.length - 1];
    if (last?.at === at) this.trace.rings.pop();
    this.trace.rings.push({ at, converged });
  }

  /** The instance or publisher a node key (or ring position: `node-1#1@9f4c`) belongs to, else its text. */
  private nameOf(nodeKey: unknown): string {
    const text = String(nodeKey);
    for (const i of this.instances.values()) if (String(i.broker.nodeKey) === text) return i.name;
    for (const [n, { broker }] of this.publishers.entries()) if (String(broker.nodeKey) === text) return `pub-${n}`;
    for (const i of this.instances.values()) if (i.broker.snapshot().positions.some((p) => String(p) === text)) return `${i.name}@${text.slice(0, 4)}`;
    return text;
  }

  /** The live instance holding ring position `position` (16-hex text). */
  private holderOf(position: string): string {
    for (const i of this.instances.values()) {
      if (!i.gone && i.broker.snapshot().positions.some((p) => String(p) === position)) return i.name;
    }
    return position;
  }

  private faulty(): boolean {
    return this.clock.now() < this.schedule.faultsUntil;
  }

  /** `handles`: a handling broker, which takes the schedule's queue bound. */
  private options(node: string, handles: boolean): BrokerOptions {
    const { queueBound } = this.schedule;
    return {
      ...(handles && queueBound !== undefined ? { maxQueuedMessages: queueBound } : {}),
      nodeName: node,
      clock: this.clock,
      virtualNodes: SIM_BROKER.virtualNodes,
      ackTimeout: SIM_BROKER.ackTimeout,
      stabilization: { interval: SIM_BROKER.stabilizationMs },
      // Every other seed batches direct FWDs (forward-batches.ts), as brokers on NATS do; its publishes come in
      // bursts (schedule.ts), so that batches form.
      batchForwards: this.schedule.seed % 2 === 0,
      onError: (error) => {
        this.trace.errors[error.code] = (this.trace.errors[error.code] ?? 0) + 1;
      },
    };
  }

  private connect(name: string): SimConnection {
    const { delay, maxDelayMs } = this.schedule.faults;
    const policy = (): number => {
      const ms = delay > 0 && this.faulty() && this.random.next() < delay ? 1 + this.random.int(maxDelayMs) : 0;
      if (ms > 0) this.log?.(`${' '.repeat(8)}held back ${ms} ms, until ${this.clock.now() + ms}`);
      return ms;
    };
    const connection = new SimConnection(this.bus.connect(name), this.clock, policy);
    this.connections.push(connection);
    return connection;
  }

  /** Membership operations run while the clock moves; their failures show in the trace, not here. */
  private track(operation: Promise<unknown>): void {
    operation.catch(() => undefined);
  }

  private async settled(operation: Promise<unknown>): Promise<void> {
    this.track(operation);
    await this.settle();
  }

  /** Lets the bus deliver everything queued and every promise chain run, until nothing moves. */
  private async settle(): Promise<void> {
    for (let round = 0; round < MAX_SETTLE_ROUNDS; round++) {
      const published = this.bus.stats.published;
      await this.bus.idle();
      await tick();
      if (this.bus.stats.published === published) return;
    }
    throw new Error(`seed ${this.schedule.seed}: the bus never settled at ${this.clock.now()} ms`);
  }

  private async closeAll(): Promise<void> {
    for (const instance of this.instances.values()) if (!instance.gone) await instance.broker.close();
    for (const { broker } of this.publishers) await broker.close();
    for (const connection of this.connections) await connection.close();
    this.bus.setFault(undefined);
  }
}
