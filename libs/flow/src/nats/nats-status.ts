import { TransportError } from '../core/errors';
import type { PubSubStatus, StatusListener } from '../core/pubsub';
import { reasonOf } from './client-errors';
import type { NatsStatusLike } from './nats-connection';

/** What a server's permissions violation refused: publishing on `subject`, or subscribing to it. */
export interface Refusal {
  readonly operation: 'publish' | 'subscription';
  readonly subject: string;
}

/**
 * The refusal a status event reports, when it is a permissions violation that
 * names one: nats v2 puts it in `permissionContext` (its `data` is the code
 * 'PERMISSIONS_VIOLATION'), v3 on its PermissionViolationError (`error`).
 */
export function refusalOf(status: NatsStatusLike): Refusal | undefined {
  const context = (status.permissionContext ?? status.error) as { operation?: unknown; subject?: unknown } | undefined;
  if (typeof context !== 'object' || context === null) return undefined;
  if (status.permissionContext === undefined && (context as { name?: unknown }).name !== 'PermissionViolationError') return undefined;
  const { operation, subject } = context;
  if ((operation !== 'publish' && operation !== 'subscription') || typeof subject !== 'string' || subject === '') return undefined;
  return { operation, subject };
}

/** Client status event types (the same in v2 and v3) and what the port calls them. */
const CLIENT_STATUS: ReadonlyMap<string, PubSubStatus> = new Map([
  ['disconnect', 'disconnected'],
  ['reconnecting', 'reconnecting'],
  ['reconnect', 'reconnected'],
  ['close', 'closed'],
]);

/**
 * A NATS connection's status as NatsPubSub reports it: listeners hear
 * 'disconnected', 'reconnecting' (once per attempt), 'reconnected', and
 * 'closed' exactly once, after which nothing more is reported and the
 * listeners are dropped. A server's error event and a failing status stream
 * go to `report`, never to the listeners.
 */
export class ConnectionStatus {
  private readonly listeners = new Set<StatusListener>();
  private closedReported = false;

  constructor(
    /** The client's status iterator, taken before anything can happen: it only sees later events. */
    private readonly events: AsyncIterable<NatsStatusLike>,
    private readonly report: (error: unknown) => void,
    /** A permissions violation that names what the server refused goes here instead of to `report`. */
    private readonly refused: (refusal: Refusal, cause: unknown) => void,
  ) {}

  listen(listener: StatusListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Follows the client's status events until they end (the connection closed) or `stop()`. */
  async watch(): Promise<void> {
    try {
      for await (const status of this.events) this.onClientStatus(status);
    } catch (error) {
      if (!this.closedReported) {
        this.report(new TransportError(`NATS connection status stream failed: ${reasonOf(error)}`, { cause: error }));
      }
    }
  }

  /** Ends the status iterator (the adapter closed). */
  stop(): void {
    (this.events as { stop?: () => void }).stop?.();
  }

  /** Reports 'closed', the first time only. */
  closed(detail: unknown): void {
    if (this.closedReported) return;
    this.closedReported = true;
    this.emit('closed', detail);
    this.listeners.clear();
  }

  private onClientStatus(status: NatsStatusLike): void {
    const mapped = CLIENT_STATUS.get(status.type);
    if (mapped === 'closed') {
      this.closed(undefined);
    } else if (mapped !== undefined) {
      this.emit(mapped, status.server ?? status.data);
    } else if (status.type === 'error') {
      const cause = status.error ?? status.data;
      const refusal = refusalOf(status);
      if (refusal !== undefined) this.refused(refusal, cause);
      else this.report(new TransportError(`NATS server reported: ${reasonOf(cause)}`, { cause }));
    }
  }

  private emit(status: PubSubStatus, detail: unknown): void {
    if (this.closedReported && status !== 'closed') return;
    for (const listener of [...this.listeners]) {
      try {
        listener(status, detail);
      } catch (error) {
        this.report(error);
      }
    }
  }
}
