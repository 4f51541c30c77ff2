import type { Clock } from './clock';
import type { Key } from './key';

/** Probes in flight at once (one per broker); a batch's dead positions leave the ring together. */
export const POSITION_CHECK_BATCH = 64;

/** What the check needs from membership. */
export interface PositionCheckHost {
  readonly clock: Clock;
  /** How long a new position may go unchecked: a LEAV or JOIN already on its way settles it first. */
  readonly delayMs: number;
  /** Whether `key`'s node subject has a subscriber; undefined when the transport cannot tell. */
  probe(key: Key): Promise<boolean | undefined>;
  /**
   * The broker whose announcement lists `key` among its current positions (its
   * node key text), or `key`'s own text: one probe answers for all positions
   * of one broker, which subscribes them together.
   */
  nodeOf(key: Key): string;
  /** Still on the ring (it may have left or been suspected while queued). */
  isMember(key: Key): boolean;
  /** Removes positions found dead, all at once. */
  remove(dead: Key[]): void;
  contain(error: unknown, what: string): void;
}

/**
 * Checks every position newly learned from the network (a JOIN, an INFO) once:
 * a real broker subscribes its node subjects before it announces them, so a
 * position without a subscriber was never a broker (forged, or stale in a peer's
 * view) and leaves the ring at once instead of one suspicion per stabilization round.
 *
 * One probe per broker: a Flow broker subscribes every position it announces
 * before it announces them, and drops them together, so the queued positions
 * its announcement lists share the verdict of one of them. A position no
 * announcement lists (a Go broker's, a forged or stale one) is probed itself.
 *
 * Bounded time: checking starts `delayMs` after a position arrives (so a broker
 * that announced and left at once is seen to leave, not suspected); then
 * POSITION_CHECK_BATCH probes at a time; a batch
 * takes at most the transport's probe timeout (ackTimeout on NATS, where a dead
 * subject answers at once with no-responders). The queue is bounded by the ring
 * (MAX_REMOTE_MEMBERS). Positions the transport cannot judge stay to stabilization.
 */
export class PositionCheck {
  private readonly queue = new Map<string, Key>();
  private running = false;
  private timer: unknown;
  private stopped = false;

  constructor(private readonly host: PositionCheckHost) {}

  /** Positions waiting for their probe. */
  get pending(): number {
    return this.queue.size;
  }

  enqueue(keys: readonly Key[]): void {
    if (this.stopped) return;
    for (const key of keys) this.queue.set(key.toString(), key);
    if (!this.running && this.timer === undefined && this.queue.size > 0) {
      this.timer = this.host.clock.setTimeout(() => this.start(), this.host.delayMs);
    }
  }

  stop(): void {
    this.stopped = true;
    this.queue.clear();
    if (this.timer !== undefined) this.host.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private start(): void {
    this.timer = undefined;
    this.running = true;
    this.run().catch((error: unknown) => this.host.contain(error, 'position check'));
  }

  private async run(): Promise<void> {
    try {
      while (this.queue.size > 0 && !this.stopped) {
        const batch = this.nextBatch();
        const probed = [...batch.values()];
        const verdicts = await Promise.all(probed.map((keys) => this.host.probe(keys[0]).catch(() => undefined)));
        if (this.stopped) return;
        const dead = probed.flatMap((keys, i) => (verdicts[i] === false ? keys.filter((key) => this.host.isMember(key)) : []));
        if (dead.length > 0) this.host.remove(dead);
      }
    } finally {
      this.running = false;
    }
  }

  /**
   * Queued positions still on the ring, by broker, taken off the queue in
   * queue order until a POSITION_CHECK_BATCH + 1st broker comes up: each
   * position is looked at once over all batches (a flood of forged positions
   * stays linear), and a broker whose positions straddle two batches is
   * probed in each.
   */
  private nextBatch(): Map<string, Key[]> {
    const batch = new Map<string, Key[]>();
    for (const [text, key] of this.queue) {
      if (this.host.isMember(key)) {
        const node = this.host.nodeOf(key);
        const keys = batch.get(node);
        if (keys !== undefined) keys.push(key);
        else if (batch.size < POSITION_CHECK_BATCH) batch.set(node, [key]);
        else break;
      }
      this.queue.delete(text);
    }
    return batch;
  }
}
