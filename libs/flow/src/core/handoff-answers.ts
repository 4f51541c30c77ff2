import { answerSize, encodeAnswer, HandoffQuery, Redirect } from './handoff-wire';
import type { HandoffHost } from './handoff-host';
import { Interval, normalize, subtract } from './key-ranges';
import type { Key } from './key';

interface Watcher {
  readonly asker: Key;
  readonly token: number;
  readonly released: Interval[];
  /** Lanes still draining; undefined: wait until nothing runs at all (slots). */
  readonly lanes: Set<number> | undefined;
}

/**
 * The previous owner's side of the handoff (docs/PROTOCOL.md, "Handoff between
 * Flow brokers"): it answers a query with the queried intervals it no longer
 * owns (a draining broker owns nothing) and its busy lanes, and answers again,
 * with the same token, whenever one of those lanes drains, until none is left.
 */
export class HandoffAnswers {
  private readonly watchers = new Map<string, Watcher>();
  private readonly dirty = new Set<Watcher>();
  private flushScheduled = false;

  constructor(
    private readonly host: Pick<HandoffHost, 'options' | 'ownership' | 'busyLanes' | 'send' | 'nodeSubjects' | 'maxPayload'>,
    /** Earlier owners this broker itself still waits for in `intervals` (not `asker`): the asker asks them too. */
    private readonly redirects: (asker: Key, intervals: readonly Interval[]) => Redirect[],
  ) {}

  /** Lanes watched for askers. */
  get tracked(): number {
    let n = 0;
    for (const watcher of this.watchers.values()) n += watcher.lanes?.size ?? 0;
    return n;
  }

  onQuery(query: HandoffQuery): void {
    const released = subtract(normalize(query.intervals), this.host.ownership.servedIntervals());
    const busy = new Set(this.host.busyLanes());
    // Slots (syncPartitions) are not partition lanes: "all lanes" while anything runs.
    const redirects = released.length === 0 ? [] : this.redirects(query.asker, released);
    // Too many busy lanes to list within the transport's max payload: "all lanes" holds the asker as long, or longer.
    const limit = this.host.maxPayload();
    const unlisted = limit !== undefined && answerSize(released.length, busy.size, redirects) > limit;
    const lanes = (this.host.options.syncPartitions > 0 && busy.size > 0) || unlisted ? undefined : busy;
    this.host.send(this.host.nodeSubjects.of(query.asker), encodeAnswer(query.token, released, lanes, redirects));
    const id = `${query.asker.toString()}/${query.token}`;
    if (released.length === 0 || (lanes !== undefined && lanes.size === 0)) {
      this.watchers.delete(id);
      return;
    }
    this.watchers.set(id, { asker: query.asker, token: query.token, released, lanes });
  }

  /** A scheduler lane drained: askers waiting on it hear so (one answer each per turn of the event loop). */
  laneIdle(lane: number): void {
    if (this.watchers.size === 0) return;
    for (const watcher of this.watchers.values()) {
      if (watcher.lanes === undefined || watcher.lanes.delete(lane)) this.dirty.add(watcher);
    }
    if (this.dirty.size > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  stop(): void {
    this.watchers.clear();
    this.dirty.clear();
  }

  private flush(): void {
    this.flushScheduled = false;
    const idle = isEmpty(this.host.busyLanes());
    for (const watcher of this.dirty) {
      // "All lanes" (slots) drains only when nothing runs any more.
      if (watcher.lanes === undefined && !idle) continue;
      const lanes = watcher.lanes ?? new Set<number>();
      this.host.send(this.host.nodeSubjects.of(watcher.asker), encodeAnswer(watcher.token, watcher.released, lanes));
      if (lanes.size === 0) this.watchers.delete(`${watcher.asker.toString()}/${watcher.token}`);
    }
    this.dirty.clear();
  }
}

/** True when `items` yields nothing. */
export function isEmpty(items: Iterable<number>): boolean {
  for (const _ of items) return false;
  return true;
}
