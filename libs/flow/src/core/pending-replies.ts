import type { U64 } from './bytes';
import { Clock } from './clock';
import { AbortedError, FlowError, RemoteError, TimeoutError } from './errors';
import { parseDetails } from './error-reply';
import { AckFrame, ErrFrame } from './frame';
import { PendingTable } from './pending';

/**
 * The requests this broker sent and awaits replies for, by request id.
 * Bounded by `maxPendingRequests`; each request ends exactly once: with its
 * reply, an error reply (RemoteError carrying the handler's code, message
 * and details), a timeout, an abort, or close.
 */
export class PendingReplies {
  private readonly table: PendingTable<Uint8Array>;

  constructor(clock: Clock, maxPendingRequests: number, requestTimeout: number) {
    this.table = new PendingTable(clock, 'maxPendingRequests', maxPendingRequests, requestTimeout);
  }

  /**
   * Registers request `id` and resolves with its reply. Throws OverloadedError
   * synchronously at the bound, before anything is registered.
   */
  await(id: U64, stream: string, timeout: number, signal: AbortSignal | undefined): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      const onAbort = () => this.table.fail(id, new AbortedError(`request on "${stream}"`, signal?.reason));
      this.table.add(
        id,
        timeout,
        () => new TimeoutError('request', timeout, stream),
        (error, reply) => {
          signal?.removeEventListener('abort', onAbort);
          if (error === undefined) resolve(reply!);
          else reject(error instanceof RemoteError ? new RemoteError(error.code, error.message, error.details, stream) : error);
        },
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    });
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
