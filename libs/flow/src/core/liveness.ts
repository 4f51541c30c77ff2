import type { U64 } from './bytes';
import type { Clock } from './clock';
import type { Key } from './key';
import type { PubSubStatus } from './pubsub';

/**
 * What a probe learned about a member's broker:
 * - 'alive': the broker itself answered (INFO to our PING), or acknowledged a forward lately;
 * - 'dead': the transport said nobody subscribes its node subject (NATS no-responders),
 *   or it stayed silent for MAX_SILENT_PROBES probes in a row;
 * - 'silent': no answer within ackTimeout, not yet enough to call it dead;
 * - 'unknown': we were disconnected meanwhile, so silence proves nothing.
 */
export type Verdict = 'alive' | 'dead' | 'silent' | 'unknown';

/**
 * Consecutive unanswered probes after which a subscribed member is dead: a hung
 * broker, or a dead one whose node subject an operator's `nats sub '<clique>.>'`
 * keeps subscribed. With the default ackTimeout (500 ms), 2 s of silence.
 */
export const MAX_SILENT_PROBES = 4;

/** Removed positions remembered at most (the ring's own bound). */
const MAX_TOMBSTONES = 1 << 16;

/**
 * How long a removed position stays removed against third-party INFO: longer
 * than Go flow keeps a dead member in its own view (76-110 s were seen) and
 * than thirty of our stabilization rounds. Its own JOIN, PING or answer lifts it at once.
 */
export function tombstoneMs(interval: number): number {
  return Math.max(300_000, 30 * interval);
}

/** What liveness needs from its broker. */
export interface LivenessHost {
  readonly clock: Clock;
  readonly ackTimeout: number;
  readonly tombstoneMs: number;
  nextId(): number;
  /**
   * Sends a PING with `id` to `key`'s node subject; calls `onNoResponders` when
   * the transport learns nobody subscribes it. Returns a function that stops listening.
   */
  sendPing(key: Key, id: number, onNoResponders: () => void): () => void;
  /** The node (broker) a ring position belongs to, as text; the position itself when unknown. */
  nodeOf(key: Key): string;
  /** True when `key` acknowledged a forward within the last `ms` (forwarder). */
  heardWithin(key: Key, ms: number): boolean;
}

interface Tombstone {
  readonly key: Key;
  readonly node: string;
  readonly until: number;
}

/**
 * The one place that decides whether a member lives: forwarder and membership
 * both ask it. Proof of life is an answer from the member's broker (an INFO to
 * our PING, a forward acknowledged, a PING of its own); a subscriber alone is
 * not, since anyone may subscribe `<clique>.>`. Proof of death is the
 * transport's no-responders, or MAX_SILENT_PROBES unanswered probes. Verdicts
 * are per node: positions of one broker live and die together, and one probe
 * in flight per node serves every caller.
 *
 * It also keeps the tombstones of removed positions (see tombstoneMs), so that
 * stale INFO from members that have not noticed a removal cannot bring them back.
 *
 * While the transport is down, and for an ackTimeout after it is back, silence
 * proves nothing: verdicts are 'unknown' and silent streaks start over.
 */
export class Liveness {
  private readonly answers = new Map<U64, () => void>();
  private readonly inFlight = new Map<string, Promise<Verdict>>();
  /** Node -> clock time of its last answer. */
  private readonly answered = new Map<string, number>();
  private readonly silent = new Map<string, number>();
  private readonly tombstones = new Map<string, Tombstone>();
  /** No verdicts of silence before this time (a disconnect and its aftermath). */
  private judgeFrom = Number.NEGATIVE_INFINITY;
  private connected = true;
  private stopped = false;

  constructor(private readonly host: LivenessHost) {}

  /** Probes `key`'s broker: one PING, at most one in flight per node. */
  probe(key: Key): Promise<Verdict> {
    const node = this.host.nodeOf(key);
    let verdict = this.inFlight.get(node);
    if (verdict === undefined) {
      verdict = this.ping(key, node);
      this.inFlight.set(node, verdict);
      void verdict.finally(() => this.inFlight.delete(node));
    }
    return verdict;
  }

  /** An INFO with `id` arrived: true when it answered one of our probes. */
  onAnswer(id: U64): boolean {
    const settle = this.answers.get(id);
    if (settle === undefined) return false;
    settle();
    return true;
  }

  /** Its broker spoke to us (a PING, an ACK, an answer): alive now. */
  heard(key: Key): void {
    const node = this.host.nodeOf(key);
    this.answered.set(node, this.host.clock.now());
    this.silent.delete(node);
  }

  /** True when `key`'s broker answered within the last `ms`. */
  answeredWithin(key: Key, ms: number): boolean {
    const at = this.answered.get(this.host.nodeOf(key));
    return at !== undefined && this.host.clock.now() - at < ms;
  }

  onStatus(status: PubSubStatus): void {
    if (status === 'disconnected' || status === 'reconnecting' || status === 'closed') {
      this.connected = false;
    } else if (!this.connected) {
      this.connected = true;
      this.judgeFrom = this.host.clock.now() + this.host.ackTimeout;
      this.silent.clear();
    }
  }

  /** Remembers removed positions; `node` is their broker's node text. */
  bury(keys: readonly Key[], node: string): void {
    const until = this.host.clock.now() + this.host.tombstoneMs;
    for (const key of keys) {
      const text = key.toString();
      this.tombstones.delete(text);
      if (this.tombstones.size >= MAX_TOMBSTONES) this.tombstones.delete(this.tombstones.keys().next().value!);
      this.tombstones.set(text, { key, node, until });
    }
    this.silent.delete(node);
  }

  buriesAny(): boolean {
    return this.tombstones.size > 0;
  }

  isBuried(key: Key): boolean {
    if (this.tombstones.size === 0) return false;
    const text = key.toString();
    const stone = this.tombstones.get(text);
    if (stone === undefined) return false;
    if (stone.until > this.host.clock.now()) return true;
    this.tombstones.delete(text);
    return false;
  }

  /**
   * `key`'s broker spoke for itself: its buried positions may return. Returns them. A stone is matched
   * by the node it was buried under and by the node its position is known under now: one buried before
   * its broker announced itself here (learned from a peer's INFO, then a LEAV) was buried as its own
   * node, and would otherwise stay off the ring, its broker's PINGs notwithstanding, until the stone
   * runs out once that broker's JOIN for it was lost.
   */
  exhume(key: Key): Key[] {
    const text = key.toString();
    const current = this.host.nodeOf(key);
    const node = this.tombstones.get(text)?.node ?? current;
    const raised: Key[] = [];
    for (const [position, stone] of this.tombstones) {
      if (position === text || stone.node === node || this.host.nodeOf(stone.key) === current) {
        this.tombstones.delete(position);
        raised.push(stone.key);
      }
    }
    return raised;
  }

  /** Settles every probe in flight as 'unknown'. */
  stop(): void {
    this.stopped = true;
    for (const settle of [...this.answers.values()]) settle();
  }

  private ping(key: Key, node: string): Promise<Verdict> {
    const { clock, ackTimeout } = this.host;
    const id = this.host.nextId();
    return new Promise<Verdict>((resolve) => {
      let timer: unknown;
      let stopListening: () => void = () => undefined;
      const settle = (verdict: Verdict): void => {
        if (!this.answers.delete(id)) return;
        clock.clearTimeout(timer);
        stopListening();
        resolve(this.stopped ? 'unknown' : this.judge(key, node, verdict));
      };
      this.answers.set(id, () => settle('alive'));
      timer = clock.setTimeout(() => settle('silent'), ackTimeout);
      try {
        stopListening = this.host.sendPing(key, id, () => settle('dead'));
      } catch {
        settle('unknown');
      }
    });
  }

  private judge(key: Key, node: string, verdict: Verdict): Verdict {
    if (verdict === 'alive') {
      this.heard(key);
      return 'alive';
    }
    if (!this.connected || this.host.clock.now() < this.judgeFrom) return 'unknown';
    if (verdict !== 'silent') return verdict;
    // Busy acknowledging our forwards: its INFO waits behind them.
    if (this.host.heardWithin(key, this.host.ackTimeout)) return 'alive';
    const streak = (this.silent.get(node) ?? 0) + 1;
    this.silent.set(node, streak);
    if (streak < MAX_SILENT_PROBES) return 'silent';
    this.silent.delete(node);
    return 'dead';
  }
}
