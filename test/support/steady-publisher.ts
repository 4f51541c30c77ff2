import type { BrokerProcess } from './broker-process';
import { MESSAGE_STREAM } from './worker-configs';

export interface SteadyTraffic {
  /** Message seq carries key `${keyPrefix}${seq % keyCount}`. */
  readonly keyCount: number;
  readonly keyPrefix: string;
  /** Publishes in flight at once (one batch, awaited before the next). */
  readonly batch: number;
  /** Pause after each batch, ms (0: closed loop). */
  readonly pauseMs: number;
  /** Messages per publish command to the worker; the loop checks for stop() between them. */
  readonly chunk: number;
  /** Bounds: the loop ends by itself after this many messages or this long. */
  readonly maxMessages: number;
  readonly maxMs: number;
  readonly firstSeq?: number;
}

export interface SteadySummary {
  /** Sequence numbers firstSeq .. nextSeq - 1 were published (resolved or failed). */
  readonly firstSeq: number;
  readonly nextSeq: number;
  readonly published: number;
  readonly failed: number;
  /** True when a bound (maxMessages, maxMs) ended the loop before stop(). */
  readonly bounded: boolean;
}

/**
 * Keyed traffic from a publisher worker for as long as a test needs it: one
 * acknowledged publish per sequence number (the worker journals each one that
 * resolves, with its times), in chunks, until stop() or a bound.
 */
export class SteadyPublisher {
  private stopping = false;
  private readonly done: Promise<SteadySummary>;

  constructor(
    private readonly publisher: BrokerProcess,
    private readonly traffic: SteadyTraffic,
  ) {
    this.done = this.loop();
  }

  /** Ends the loop after the chunk under way; resolves with what was published. */
  stop(): Promise<SteadySummary> {
    this.stopping = true;
    return this.done;
  }

  private async loop(): Promise<SteadySummary> {
    const { traffic } = this;
    const firstSeq = traffic.firstSeq ?? 0;
    const deadline = Date.now() + traffic.maxMs;
    let next = firstSeq;
    let published = 0;
    let failed = 0;
    while (!this.stopping && next - firstSeq < traffic.maxMessages && Date.now() < deadline) {
      const count = Math.min(traffic.chunk, firstSeq + traffic.maxMessages - next);
      const result = await this.publisher.publish(
        {
          stream: MESSAGE_STREAM,
          firstSeq: next,
          count,
          keyCount: traffic.keyCount,
          keyPrefix: traffic.keyPrefix,
          batch: traffic.batch,
          pauseMs: traffic.pauseMs,
          concurrent: true,
        },
        Math.max(deadline - Date.now(), 1) + 30_000,
      );
      next += count;
      published += result.published;
      failed += result.failed;
    }
    return { firstSeq, nextSeq: next, published, failed, bounded: !this.stopping };
  }
}
