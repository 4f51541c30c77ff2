import { Logger, LoggerService } from '@nestjs/common';
import { Broker, ErrorCode, FlowError, Key, PubSubStatus } from '../core';
import { FlowHandlerError } from './flow-handler.error';

/** The context of every line Flow logs. */
export const FLOW_LOG_CONTEXT = 'Flow';

/** How long membership events are gathered into one line: a broker's JOINs or LEAVs arrive as a burst. */
export const MEMBERSHIP_WINDOW_MS = 100;

type MembershipEvent = 'joined' | 'left' | 'suspected';

const MEMBERSHIP_WORDS: Readonly<Record<MembershipEvent, string>> = {
  joined: 'joined',
  left: 'left',
  suspected: 'suspected (stopped answering) and removed',
};

/**
 * What Flow says about itself through Nest's logger (context `Flow`): the
 * connection, joining the ring, membership changes, disconnects and
 * reconnects, shutdown phases, conflicts and reported errors. The core only
 * emits events; this is where they become lines.
 *
 * Volume: membership events come per ring position (a broker holds up to
 * thousands); they are gathered for MEMBERSHIP_WINDOW_MS and logged as one
 * line per kind with a count. Remote positions do not reveal which broker
 * holds them, so the line counts positions, not brokers. Reported errors
 * are one line each, without a stack, except a handler's failure, whose
 * stack goes to the debug level. Repeats are limited where they are
 * reported (the broker's rate-limited error reports), not here.
 */
export class BrokerLog {
  private readonly pending = new Map<MembershipEvent, number>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private broker: Broker | undefined;
  private nodeName: string | undefined;
  private joinLogged = false;
  /** True from a disconnect to the first reconnect attempt: one debug line per outage. */
  private reconnecting = false;

  /** `logger` false: silent. Default: Nest's Logger with context `Flow`. */
  constructor(
    logger: LoggerService | false | undefined,
    private readonly windowMs = MEMBERSHIP_WINDOW_MS,
  ) {
    this.sink = logger === false ? undefined : (logger ?? new Logger(FLOW_LOG_CONTEXT));
    this.withContext = logger !== undefined && logger !== false;
  }

  private readonly sink: LoggerService | undefined;
  /** A user's LoggerService gets the context as the last argument, Nest's convention. */
  private readonly withContext: boolean;

  get enabled(): boolean {
    return this.sink !== undefined;
  }

  waitingForTransport(attempt: number, attempts: number, intervalMs: number, error: FlowError): void {
    this.warn(`NATS not reachable (attempt ${attempt} of ${attempts}): ${error.message}; retrying in ${intervalMs} ms`);
  }

  connected(description: string): void {
    this.log(`Connected: ${description}`);
  }

  /** After the broker started: joined (it had handlers), or not on the ring until handlers come (a publisher has none). */
  started(broker: Broker, nodeName: string | undefined): void {
    this.broker = broker;
    this.nodeName = nodeName;
    const snapshot = broker.snapshot();
    if (snapshot.joined) {
      this.joined();
      return;
    }
    this.log(
      `Broker ${snapshot.nodeKey}${this.describeName()} started in clique "${snapshot.clique}"; ` +
        'it joins the ring once handlers are registered, and owns nothing until then',
    );
  }

  /** Once the broker is on the ring (FlowServer registered its handlers); logged once. */
  joined(): void {
    const snapshot = this.broker?.snapshot();
    if (snapshot === undefined || !snapshot.joined || this.joinLogged) return;
    this.joinLogged = true;
    this.log(
      `Joined clique "${snapshot.clique}" as node ${snapshot.nodeKey}${this.describeName()} with ` +
        `${snapshot.positions.length} ring positions; ring size ${snapshot.members.length}`,
    );
  }

  private describeName(): string {
    return this.nodeName === undefined ? '' : ` (${this.nodeName})`;
  }

  /** One broker membership event (per ring position); logged in bursts. */
  membership(event: MembershipEvent, _key: Key): void {
    if (this.sink === undefined) return;
    this.pending.set(event, (this.pending.get(event) ?? 0) + 1);
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => this.flushMembership(), this.windowMs);
    this.timer.unref?.();
  }

  /** Logs gathered membership events now (also on shutdown). */
  flushMembership(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return;
    const ring = this.broker?.snapshot().members.length;
    const parts = [...this.pending].map(([event, count]) => `${count} position${count === 1 ? '' : 's'} ${MEMBERSHIP_WORDS[event]}`);
    this.pending.clear();
    const line = `Ring changed: ${parts.join(', ')}${ring === undefined ? '' : `; ring size ${ring}`}`;
    if (parts.some((part) => part.includes('suspected'))) this.warn(line);
    else this.log(line);
  }

  status(status: PubSubStatus): void {
    switch (status) {
      case 'disconnected':
        this.reconnecting = true;
        this.warn('Disconnected from NATS: publish() and request() fail with FLOW_TRANSPORT, and no handler starts, until reconnected');
        return;
      case 'reconnecting':
        // One line per outage; the client tries again every reconnect interval.
        if (this.reconnecting) this.debug('Reconnecting to NATS');
        this.reconnecting = false;
        return;
      case 'reconnected':
        this.log('Reconnected to NATS');
        return;
      case 'closed':
        // The broker stops listening before the app closes the transport: this is the connection giving up.
        this.error('NATS connection closed (reconnect attempts exhausted?): nothing is published or received any more');
        return;
      case 'connected':
        return;
    }
  }

  shuttingDown(inFlight: number, gracePeriodMs: number): void {
    this.flushMembership();
    this.log(`Shutting down: leaving the ring; waiting up to ${gracePeriodMs} ms for ${inFlight} in-flight handler(s)`);
  }

  shutDown(): void {
    this.log('Shut down: left the ring, transport closed');
  }

  /**
   * A conflict the broker reported (an identity or capability clash with
   * another member). HOOK: the broker's `conflict` event is wired in
   * FlowBrokerHost when the broker emits one.
   */
  conflict(detail: unknown): void {
    const text = detail instanceof Error ? detail.message : typeof detail === 'string' ? detail : JSON.stringify(detail);
    this.error(`Conflict: ${text}`);
  }

  /** A reported error: one line; a handler's failure adds its stack at debug level. */
  reportedError(error: FlowError): void {
    this.error(`${error.code}: ${error.message}`);
    if (isHandlerFailure(error)) {
      const stack = error.cause instanceof Error ? error.cause.stack : error.stack;
      if (stack !== undefined) this.debug(stack);
    }
  }

  /** A failure of the logging or error callback itself. */
  error(message: string): void {
    if (this.sink === undefined) return;
    if (this.withContext) this.sink.error(message, FLOW_LOG_CONTEXT);
    else this.sink.error(message);
  }

  log(message: string): void {
    if (this.sink === undefined) return;
    if (this.withContext) this.sink.log(message, FLOW_LOG_CONTEXT);
    else this.sink.log(message);
  }

  private warn(message: string): void {
    if (this.sink === undefined) return;
    if (this.withContext) this.sink.warn(message, FLOW_LOG_CONTEXT);
    else this.sink.warn(message);
  }

  private debug(message: string): void {
    if (this.sink?.debug === undefined) return;
    if (this.withContext) this.sink.debug(message, FLOW_LOG_CONTEXT);
    else this.sink.debug(message);
  }
}

function isHandlerFailure(error: FlowError): boolean {
  return error instanceof FlowHandlerError || error.code === ErrorCode.Handler;
}
