import { ClosedError, FlowError, OverloadedError, TransportError } from './errors';
import { MessageHeaders, PubSubStatus } from './pubsub';

interface Held {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: MessageHeaders | undefined;
  readonly resolve: () => void;
  readonly reject: (error: FlowError) => void;
}

/**
 * What a broker's publish() and request() do while the transport is down
 * (status 'disconnected' or 'reconnecting', until 'reconnected').
 *
 * - `bound` 0 (the default): both reject at once with FLOW_TRANSPORT, so a
 *   publisher never believes a message left while it could not.
 * - `bound` > 0: publish() holds up to `bound` messages and sends them, in
 *   order, when the transport is back; its promise resolves then. Beyond the
 *   bound it rejects with FLOW_OVERLOADED; when the broker closes first, the
 *   held messages reject with FLOW_CLOSED. Requests still reject at once:
 *   their timeout would run while they wait.
 *
 * The broker's own frames (ACKs, PINGs, replies) are not gated: the client
 * buffers them through a reconnect, and the protocol tolerates their loss.
 */
export class TransportGate {
  private down = false;
  private downCount = 0;
  private held: Held[] = [];

  constructor(
    private readonly bound: number,
    private readonly send: (subject: string, data: Uint8Array, headers: MessageHeaders | undefined) => void,
  ) {}

  get isDown(): boolean {
    return this.down;
  }

  /** How many times the transport went down so far. */
  get downs(): number {
    return this.downCount;
  }

  onStatus(status: PubSubStatus): void {
    if (status === 'disconnected' || status === 'reconnecting') {
      if (!this.down) this.downCount++;
      this.down = true;
    } else if (status === 'connected' || status === 'reconnected') {
      this.down = false;
      this.release();
    }
  }

  /** Whether publish() would send or hold a message now (not reject it). */
  get takes(): boolean {
    return !this.down || this.held.length < this.bound;
  }

  /** Throws TransportError while the transport is down. */
  check(operation: string, stream: string): void {
    if (this.down) throw unavailable(operation, stream);
  }

  /** Sends now, holds (within the bound) while the transport is down, or rejects. */
  publish(subject: string, data: Uint8Array, headers?: MessageHeaders): Promise<void> {
    if (!this.down) {
      this.send(subject, data, headers);
      return Promise.resolve();
    }
    if (this.bound === 0) return Promise.reject(unavailable('publish', subject));
    if (this.held.length >= this.bound) return Promise.reject(new OverloadedError('reconnectBuffer', this.bound));
    return new Promise((resolve, reject) => this.held.push({ subject, data, headers, resolve, reject }));
  }

  /** Rejects every held message (the broker is closing). */
  failAll(error: FlowError = new ClosedError()): void {
    const held = this.held;
    this.held = [];
    for (const message of held) message.reject(error);
  }

  private release(): void {
    const held = this.held;
    this.held = [];
    for (let i = 0; i < held.length; i++) {
      const message = held[i];
      try {
        this.send(message.subject, message.data, message.headers);
        message.resolve();
      } catch (error) {
        message.reject(error instanceof FlowError ? error : new TransportError(String(error), { cause: error }));
      }
    }
  }
}

function unavailable(operation: string, stream: string): TransportError {
  return new TransportError(`cannot ${operation} on "${stream}": the transport is disconnected (reconnecting)`);
}
