/**
 * A broker in its own process, driven by an end-to-end test over IPC
 * (worker-protocol.ts). Spawned by BrokerProcess:
 *
 *   node -r ./test/support/ts-register.js test/support/broker-worker.ts
 *
 * It says hello, waits for `start`, connects to NATS, registers the handlers
 * the config names, starts the broker and then answers commands until `close`
 * or `shutdown`, after which it exits. SIGTERM is a graceful shutdown too (as
 * a deployment stops a service): the worker exits 0 once the broker has shut
 * down, 1 when it could not. It exits at once when the parent goes away, so a
 * crashed test leaves no broker behind.
 */
import { Broker, ErrorCode, type FlowError } from 'nestjs-flow/core';
import type { Delivery } from 'nestjs-flow/core';
import { DefaultCodec, type Codec, type StreamMessage } from 'nestjs-flow/core';
import { connectNats, type NatsOptions, type NatsPubSub } from 'nestjs-flow/nats';
import { journalClock, JournalWriter } from './journal';
import {
  REJECTION,
  toWireError,
  type CommandMessage,
  type EchoReply,
  type PublishResult,
  type PublishSpec,
  type RequestBody,
  type RequestOutcome,
  type RingView,
  type WorkerCommand,
  type WorkerConfig,
  type WorkerCounters,
  type WorkerEvent,
  type WorkerMessage,
} from './worker-protocol';

const PROGRESS_INTERVAL_MS = 25;
/** How long a graceful shutdown on SIGTERM may take. */
const SIGTERM_SHUTDOWN_MS = 10_000;
const SETTLE_POLL_MS = 10;
const utf8 = new TextEncoder();
const text = new TextDecoder();

/** DefaultCodec that also tells the worker about every stream message taken from NATS. */
class ObservingCodec implements Codec {
  private readonly inner = new DefaultCodec();

  constructor(private readonly onDecoded: (message: StreamMessage) => void) {}

  encode(message: StreamMessage): Uint8Array {
    return this.inner.encode(message);
  }

  decode(subject: string, bytes: Uint8Array): StreamMessage {
    const message = this.inner.decode(subject, bytes);
    this.onDecoded(message);
    return message;
  }
}

/** The decimal sequence number a test message carries as its data; -1 for foreign data. */
function seqOf(data: Uint8Array): number {
  if (data.length === 0 || data.length > 15) return -1;
  let seq = 0;
  for (const byte of data) {
    if (byte < 0x30 || byte > 0x39) return -1;
    seq = seq * 10 + (byte - 0x30);
  }
  return seq;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

class BrokerWorker {
  private broker: Broker | undefined;
  private pubsub: NatsPubSub | undefined;
  private journal: JournalWriter | undefined;
  private readonly errors: Record<string, number> = {};
  private handled = 0;
  private received = 0;
  private published = 0;
  private progressTimer: NodeJS.Timeout | undefined;
  private ringScheduled = false;
  private ringAt = 0;
  /** Requests answered with silence: they stay in flight for the life of the broker. */
  private silent = 0;

  constructor(private readonly send: (message: WorkerMessage, done?: () => void) => void) {}

  async run(command: WorkerCommand): Promise<unknown> {
    switch (command.type) {
      case 'start':
        return this.start(command.config);
      case 'snapshot':
        return this.view();
      case 'counters':
        return this.countersNow();
      case 'owner-of':
        return command.keys.map((key) => this.started().ownerOf(key)?.toString() ?? null);
      case 'publish':
        return this.publish(command.spec);
      case 'requests':
        return Promise.all(command.items.map((item) => this.request(command.stream, command.timeout, item)));
      case 'settle':
        return this.settle(command.timeoutMs);
      case 'close':
        await this.started().close();
        await this.closeTransport();
        return null;
      case 'shutdown':
        await this.started().shutdown({ timeout: command.timeoutMs });
        await this.closeTransport();
        return null;
    }
  }

  private async start(config: WorkerConfig): Promise<RingView> {
    if (this.broker !== undefined) throw new Error('the worker has started already');
    this.pubsub = await connectNats(natsOptions(config, (error) => this.countError(error)));
    this.journal = new JournalWriter(config.journal);
    const { stabilizationInterval, ...options } = config.broker;
    const broker = new Broker(this.pubsub, {
      ...options,
      stabilization: { interval: stabilizationInterval },
      codec: new ObservingCodec((message) => this.onReceived(message)),
      onError: (error) => this.onError(error),
    });
    this.broker = broker;
    for (const event of ['joined', 'left', 'suspected'] as const) broker.on(event, () => this.onRingChange());
    broker.on('status', (status) => this.emit({ type: 'status', status, at: Date.now() }));
    const delayMs = config.handlerDelayMs ?? 0;
    const onMessage =
      delayMs > 0
        ? (delivery: Delivery) => {
            const start = journalClock();
            return delay(delayMs).then(() => this.onMessage(delivery, start));
          }
        : (delivery: Delivery) => this.onMessage(delivery, journalClock());
    for (const stream of config.messageStreams) await broker.handle(stream, onMessage);
    for (const stream of config.requestStreams) await broker.handleRequest(stream, (delivery) => this.onRequest(delivery));
    await broker.start();
    this.onRingChange();
    return this.view();
  }

  private onReceived(message: StreamMessage): void {
    this.received++;
    this.journal?.received(seqOf(message.data));
    this.scheduleProgress();
  }

  private onMessage(delivery: Delivery, start: number): void {
    const times = { start, end: journalClock() };
    this.journal!.handled(seqOf(delivery.data), text.decode(delivery.partitionKey), delivery.owner.toString(), times);
    this.handled++;
    this.scheduleProgress();
  }

  private onRequest(delivery: Delivery): Uint8Array | Promise<Uint8Array> {
    const body = JSON.parse(text.decode(delivery.data)) as RequestBody;
    const owner = delivery.owner.toString();
    if (body.mode === 'fail') {
      throw Object.assign(new Error(REJECTION.message), { code: REJECTION.code, details: { text: body.text, owner } });
    }
    if (body.mode === 'silent') {
      this.silent++;
      return new Promise<Uint8Array>(() => undefined);
    }
    const reply: EchoReply = { text: body.text, owner, node: this.started().nodeKey.toString() };
    const bytes = utf8.encode(JSON.stringify(reply));
    if (body.mode === 'delay') return new Promise<Uint8Array>((resolve) => setTimeout(() => resolve(bytes), body.delayMs ?? 0));
    return bytes;
  }

  private async request(
    stream: string,
    timeout: number,
    item: { key: string; body: RequestBody },
  ): Promise<RequestOutcome> {
    const started = Date.now();
    try {
      const reply = await this.started().request(stream, utf8.encode(JSON.stringify(item.body)), { key: item.key, timeout });
      return { ok: true, reply: JSON.parse(text.decode(reply)) as EchoReply };
    } catch (error) {
      return { ok: false, error: toWireError(error), elapsedMs: Date.now() - started };
    }
  }

  private async publish(spec: PublishSpec): Promise<PublishResult> {
    const broker = this.started();
    const result: PublishResult = { published: 0, failed: 0, flushFailures: 0, firstAt: Date.now(), lastAt: 0 };
    const end = spec.firstSeq + spec.count;
    const inFlight: Promise<void>[] = [];
    for (let seq = spec.firstSeq; seq < end; seq++) {
      if (spec.concurrent === true) {
        const sentAt = journalClock();
        const sent = broker.publish(spec.stream, utf8.encode(String(seq)), { key: `${spec.keyPrefix}${seq % spec.keyCount}` });
        inFlight.push(
          sent.then(
            () => {
              this.journal?.published(seq, { sent: sentAt, resolved: journalClock() });
              result.published++;
              this.published++;
            },
            () => void result.failed++,
          ),
        );
        if ((seq - spec.firstSeq + 1) % spec.batch === 0 || seq === end - 1) {
          await Promise.all(inFlight.splice(0));
          this.scheduleProgress();
          if (spec.pauseMs > 0 && seq < end - 1) await delay(spec.pauseMs);
        }
        continue;
      }
      try {
        await broker.publish(spec.stream, utf8.encode(String(seq)), { key: `${spec.keyPrefix}${seq % spec.keyCount}` });
        result.published++;
        this.published++;
      } catch {
        result.failed++;
      }
      if ((seq - spec.firstSeq + 1) % spec.batch === 0 || seq === end - 1) {
        // Yielding to the server keeps it and the subscribers from being overrun.
        await this.pubsub!.flush().catch(() => result.flushFailures++);
        this.scheduleProgress();
        if (spec.pauseMs > 0 && seq < end - 1) await delay(spec.pauseMs);
      }
    }
    result.lastAt = Date.now();
    return result;
  }

  /**
   * Resolves once everything the server sent us has arrived, no handler runs
   * (silent request handlers aside) and no forward awaits an ACK. Not
   * `forwarded === acked + retried`: a forwarded request given up on is
   * answered with an error, not routed again (OverdueForwards.giveUp). The
   * answers counted can still not exceed the forwards (an answer counted
   * twice did, once: 3e3997d).
   */
  private async settle(timeoutMs: number): Promise<WorkerCounters> {
    const broker = this.started();
    const deadline = Date.now() + timeoutMs;
    await this.pubsub!.flush();
    for (;;) {
      const { forwarded, acked, retried } = broker.counters;
      if (acked + retried > forwarded) throw new Error(`answers counted twice: ${JSON.stringify(this.countersNow())}`);
      if (broker.inFlight === this.silent && broker.load.forwardsInFlight === 0) break;
      if (Date.now() > deadline) {
        throw new Error(`not settled within ${timeoutMs} ms: ${JSON.stringify(this.countersNow())}`);
      }
      await delay(SETTLE_POLL_MS);
    }
    return this.countersNow();
  }

  /** SIGTERM: a graceful shutdown, then exit (0 when it completed). */
  async terminate(): Promise<number> {
    if (this.broker === undefined) return 0;
    try {
      await this.broker.shutdown({ timeout: SIGTERM_SHUTDOWN_MS });
      await this.closeTransport();
      return 0;
    } catch (error) {
      process.stderr.write(`graceful shutdown on SIGTERM failed: ${String(error)}\n`);
      return 1;
    }
  }

  private async closeTransport(): Promise<void> {
    await this.pubsub?.close();
    this.journal?.close();
    this.journal = undefined;
  }

  private started(): Broker {
    if (this.broker === undefined) throw new Error('the worker has not started: send start first');
    return this.broker;
  }

  private view(): RingView {
    const snapshot = this.started().snapshot();
    return {
      nodeKey: snapshot.nodeKey.toString(),
      positions: snapshot.positions.map(String),
      members: snapshot.members.map(String),
      joined: snapshot.joined,
    };
  }

  private countersNow(): WorkerCounters {
    const broker = this.started();
    return { ...broker.counters, inFlight: broker.inFlight, errors: { ...this.errors } };
  }

  private onError(error: FlowError): void {
    this.countError(error);
    if (error.code === ErrorCode.NodeConflict || error.code === ErrorCode.IncompatibleMember) {
      this.emit({ type: 'problem', code: error.code, message: error.message, at: Date.now() });
    }
  }

  private countError(error: unknown): void {
    const code = (error as { code?: unknown }).code;
    const key = typeof code === 'string' ? code : (error as Error)?.name ?? 'unknown';
    this.errors[key] = (this.errors[key] ?? 0) + 1;
  }

  /** Membership events come one per position: coalesce them into one ring event per turn. */
  private onRingChange(): void {
    this.ringAt = Date.now();
    if (this.ringScheduled) return;
    this.ringScheduled = true;
    setImmediate(() => {
      this.ringScheduled = false;
      if (this.broker !== undefined) {
        this.emit({ type: 'ring', size: this.broker.snapshot().members.length, at: this.ringAt });
      }
    });
  }

  private scheduleProgress(): void {
    if (this.progressTimer !== undefined) return;
    this.progressTimer = setTimeout(() => {
      this.progressTimer = undefined;
      this.emit({
        type: 'progress',
        handled: this.handled,
        received: this.received,
        published: this.published,
        at: Date.now(),
      });
    }, PROGRESS_INTERVAL_MS);
  }

  private emit(event: WorkerEvent): void {
    this.send({ kind: 'event', event });
  }
}

function natsOptions(config: WorkerConfig, onError: (error: unknown) => void): NatsOptions {
  const { nats } = config;
  return {
    servers: nats.servers,
    name: config.broker.nodeName ?? 'flow-e2e-worker',
    ...(nats.token === undefined ? {} : { token: nats.token }),
    ...(nats.user === undefined ? {} : { user: nats.user, pass: nats.pass }),
    ...(nats.caFile === undefined ? {} : { tls: { caFile: nats.caFile } }),
    reconnect: { maxAttempts: -1, waitMs: nats.reconnectWaitMs ?? 250 },
    onError,
  };
}

function main(): void {
  if (process.send === undefined) {
    process.stderr.write('broker-worker must be spawned with an IPC channel\n');
    process.exit(2);
  }
  const send = (message: WorkerMessage, done?: () => void): void => {
    if (process.connected) process.send!(message, undefined, {}, done);
  };
  const worker = new BrokerWorker(send);
  process.on('disconnect', () => process.exit(1));
  process.once('SIGTERM', () => void worker.terminate().then((code) => process.exit(code)));
  process.on('message', ({ id, command }: CommandMessage) => {
    worker.run(command).then(
      (value) => {
        const last = command.type === 'close' || command.type === 'shutdown';
        send({ kind: 'reply', id, ok: true, value }, last ? () => process.exit(0) : undefined);
      },
      (error: unknown) => send({ kind: 'reply', id, ok: false, error: toWireError(error) }),
    );
  });
  send({ kind: 'hello', pid: process.pid });
}

main();
