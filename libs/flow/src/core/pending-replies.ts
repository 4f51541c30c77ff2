import type { U64 } from './bytes';
import { Clock } from './clock';
import { AbortedError, ErrorCode, FlowError, RemoteError, TimeoutError } from './errors';
import { asFlowError, parseDetails } from './error-reply';
import { AckFrame, ErrFrame } from './frame';
import { PendingTable } from './pending';
import { MessageHeaders, PubSub } from './pubsub';

/**
 * A pending request's watch by the transport (publishRequest), stopped when
 * the request ends. Kept with the request's table entry, not in a Map of its
 * own: a Map that gains and loses an entry per request has V8 rebuild its
 * table every few dozen requests, in the old generation once the Map is old.
 */
interface Watch {
  stop: (() => void) | undefined;
}

/**
 * The requests this broker sent and awaits replies for, by request id.
 * Bounded by `maxPendingRequests`; each request ends exactly once: with its
 * reply, an error reply (RemoteError carrying the handler's code, message
 * and details), FLOW_NO_HANDLER when the transport reports that nobody
 * subscribes to the stream, FLOW_TRANSPORT when the server refused to
 * publish it there (NATS permissions), a timeout, an abort, or close. A pending request
 * keeps the process alive until it ends: a caller awaiting it is never left
 * behind by an exiting process.
 */
export class PendingReplies {
  private readonly table: PendingTable<Uint8Array, Watch>;

  /** `ended`: hears every registered request's end, whatever it was. */
  constructor(
    clock: Clock,
    maxPendingRequests: number,
    requestTimeout: number,
    private readonly ended: (id: U64) => void = () => {},
  ) {
    this.table = new PendingTable(clock, 'maxPendingRequests', maxPendingRequests, requestTimeout, true);
  }

  /**
   * Publishes the MSG frame of pending request `id` on `stream` (the caller
   * sends only a pending one, isPending: one refused at the bound goes
   * nowhere, direct or not). A failure to publish ends the request with it; a
   * transport that learns that nobody subscribes to the stream ends it with
   * FLOW_NO_HANDLER, one whose server refused the publish with that refusal.
   */
  publish(pubsub: PubSub, id: U64, stream: string, frame: Uint8Array, headers?: MessageHeaders): void {
    try {
      if (pubsub.publishRequest === undefined) {
        pubsub.publish(stream, frame, headers);
        return;
      }
      const stop = pubsub.publishRequest(
        stream,
        frame,
        () => this.table.fail(id, noHandler(stream)),
        headers,
        (refusal) => this.table.fail(id, refusal),
      );
      const watch = this.table.tagOf(id);
      if (watch !== undefined) watch.stop = stop;
      else stop();
    } catch (error) {
      this.table.fail(id, asFlowError(error, 'publish', ErrorCode.Transport));
    }
  }

  /**
   * Registers request `id` and resolves with its reply. At the bound it
   * rejects with OverloadedError and registers nothing (so `publish` sends
   * nothing for it).
   */
  await(id: U64, stream: string, timeout: number, signal: AbortSignal | undefined): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      const onAbort = () => this.table.fail(id, new AbortedError(`request on "${stream}"`, signal?.reason));
      const watch: Watch = { stop: undefined };
      this.table.add(
        id,
        timeout,
        () => new TimeoutError('request', timeout, stream),
        (error, reply) => {
          signal?.removeEventListener('abort', onAbort);
          watch.stop?.();
          this.ended(id);
          if (error === undefined) resolve(reply!);
          else reject(error instanceof RemoteError ? new RemoteError(error.code, error.message, error.details, stream) : error);
        },
        watch,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Whether request `id` still awaits its reply (registered, not ended). */
  isPending(id: U64): boolean {
    return this.table.has(id);
  }

  /** An ACK on our node subject that was not a forward's: a reply, unless late or foreign. */
  onAck(frame: AckFrame): void {
    this.table.resolve(frame.id, frame.data);
  }

  onErr(frame: ErrFrame): void {
    this.table.fail(frame.id, new RemoteError(frame.code, frame.message, parseDetails(frame.details)));
  }

  fail(id: U64, error: FlowError): void {
    this.table.fail(id, error);
  }

  failAll(error: FlowError): void {
    this.table.failAll(error);
  }
}

function noHandler(stream: string): FlowError {
  return new FlowError(ErrorCode.NoHandler, `no broker handles stream "${stream}" (nobody subscribes to it)`);
}
