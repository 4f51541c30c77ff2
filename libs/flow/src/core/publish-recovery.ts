import { quoteBytes, U64 } from './bytes';
import { ErrorCode, RemoteError } from './errors';
import type { ForwardRoutes } from './forward-batches';
import type { ErrFrame } from './frame';
import type { BatchTarget } from './publish-wire';
import type { InFlightTable } from './in-flight-table';
import type { Key } from './key';
import { ACK_PATIENCE } from './overdue-forwards';
import type { PublishLanes } from './publish-lanes';
import { Entry, messageOf, PublisherHost } from './publisher-host';

/** What recovery needs from its publisher: its unsettled publishes, and how to send or settle one. */
export interface RecoveryHost {
  readonly host: PublisherHost;
  readonly entries: InFlightTable<Entry>;
  readonly lanes: PublishLanes;
  readonly routes: ForwardRoutes;
  /** When each owner (key text) last answered a publish, clock time: the publisher's record, read and pruned here. */
  readonly lastHeard: Map<string, number>;
  /** Sends `entry` to its owner by the current view, or holds it behind its lane. */
  route(entry: Entry): void;
  /** Sends `entry` again to the owner it was sent to. */
  transmit(entry: Entry): void;
  /** `entry`'s owner spoke. */
  heard(entry: Entry): void;
  /** Settles publish `id` without a handled notice; false when it was unknown. */
  settleApart(id: U64, done: boolean): boolean;
}

/**
 * What a publisher (publisher.ts) does with the unsettled publishes that their
 * owners refuse, leave unanswered or take down with them. Runs on ERRs, timers
 * and probe answers, never for a publish that goes as sent.
 *
 * A refusal (ERR) settles the publish: with no handler there and not yet
 * accepted, it goes to the queue group instead; otherwise it fails with the
 * owner's error (reported, once accepted). FLOW_CLOSED is no refusal: the
 * owner's broker is closing, and the watch moves the message on.
 *
 * Every ackTimeout while publishes are unsettled (a watch round), an owner
 * holding a message unanswered for an ackTimeout is probed unless it spoke
 * within that time: dead, it is suspected and its messages move; alive, they
 * are sent again to it (a lost ACK or notice), and an unaccepted one moves
 * after ACK_PATIENCE tries, as forwards do. When an owner is found dead, its
 * unhandled messages go to the new owners in publish order, before anything
 * later of their lanes. Retries keep their id: an owner that sees one again
 * answers from its duplicate window.
 */
export class PublishRecovery {
  /** Owners (key text) with a probe under way: one at a time each. */
  private readonly probing = new Set<string>();

  constructor(private readonly publisher: RecoveryHost) {}

  /**
   * An ERR for one of our publishes: the owner refused it (no handler,
   * overload). `refuser`: the broker the ERR names. One the publish has since
   * left (its owner taken for dead, the publish sent on under the same id)
   * refused only the copy it had, which ended there; the publish goes on at
   * its owner now, and is neither rejected nor settled (seed 223296: the old
   * owner's refusal arrived after the copy was sent on, the publisher
   * rejected the publish, and the new owner ran it).
   */
  refused(frame: ErrFrame, refuser?: BatchTarget): boolean {
    const { entries, host, routes } = this.publisher;
    const entry = entries.get(frame.id);
    if (entry === undefined) return false;
    if (refuser !== undefined && (entry.owner === undefined || !routes.isPositionOf(refuser, entry.ownerText))) return true;
    // A broker closing under the message: the watch finds it gone and moves the message on.
    if (frame.code === ErrorCode.Closed) return true;
    this.publisher.heard(entry);
    if (frame.code === ErrorCode.NoHandler && !entry.accepted) {
      // The member does not handle this stream after all: the queue group decides.
      this.publisher.settleApart(frame.id, false);
      host.viaQueueGroup(messageOf(entry));
      entry.resolve?.();
      return true;
    }
    if (entry.reject === undefined) {
      host.counters.refusedLate++;
      host.reportError(lateRefusal(entry, frame));
    } else entry.reject(new RemoteError(frame.code, frame.message, undefined));
    this.publisher.settleApart(frame.id, false);
    return true;
  }

  /** A watch round: see the class comment. */
  watch(): void {
    const { entries, host } = this.publisher;
    const { ackTimeout, clock } = host.options;
    // Owners are not judged while this broker's own transport is down: their silence would be its own.
    if (host.linkDown()) return;
    const now = clock.now();
    const due = new Map<string, Entry[]>();
    for (const entry of entries.inOrder()) {
      const waited = now - entry.since;
      if (entry.owner === undefined || waited < ackTimeout) continue;
      // Accepted, and its owner speaks: the handled notice is on its way (a backlog), unless it waited very long.
      if (entry.accepted && waited < ACK_PATIENCE * ackTimeout && this.heardWithin(entry.ownerText, ackTimeout)) continue;
      const list = due.get(entry.ownerText);
      if (list === undefined) due.set(entry.ownerText, [entry]);
      else list.push(entry);
    }
    for (const [text, list] of due) {
      const owner = list[0].owner!;
      if (this.heardWithin(text, ackTimeout)) this.retry(owner, list);
      else if (!this.probing.has(text)) {
        this.probing.add(text);
        const downs = host.linkDowns();
        host
          .probe(owner)
          .then((alive) => {
            this.probing.delete(text);
            if (alive === true) this.retry(owner, list);
            // "Cannot tell" while this broker's own transport went down says nothing of the owner: asked again next round
            // (seed 717 with member publishers: disconnected node-2 took node-1 for dead and moved its own publishes home).
            else if (alive !== undefined || (!host.linkDown() && host.linkDowns() === downs)) this.ownerDead(owner);
          })
          .catch((error: unknown) => host.contain(error, 'publish probe'));
      }
    }
  }

  private heardWithin(owner: string, ms: number): boolean {
    const at = this.publisher.lastHeard.get(owner);
    return at !== undefined && this.publisher.host.options.clock.now() - at < ms;
  }

  /** `owner` is alive: its overdue publishes go to it again; one unaccepted for ACK_PATIENCE tries moves on. */
  private retry(owner: Key, overdue: readonly Entry[]): void {
    const { entries, host } = this.publisher;
    // Still unsettled and still at that owner (a probe answer comes later).
    const text = owner.toString();
    const due = overdue.filter((entry) => entry.owner !== undefined && entry.ownerText === text && entries.has(entry.id));
    if (due.some((entry) => !entry.accepted && entry.tries >= ACK_PATIENCE)) {
      this.ownerDead(owner);
      return;
    }
    host.counters.retried += due.length;
    for (const entry of due) this.publisher.transmit(entry);
  }

  /** `owner` is gone: suspected, and its unsettled publishes go to the new owners in publish order. */
  private ownerDead(owner: Key): void {
    const { entries, host } = this.publisher;
    const text = owner.toString();
    host.suspect(owner);
    this.publisher.lastHeard.delete(text);
    this.publisher.routes.forget(text);
    const moving: Entry[] = [];
    for (const entry of entries.inOrder()) if (entry.owner !== undefined && entry.ownerText === text) moving.push(entry);
    if (moving.length === 0) return;
    host.counters.timedOut += moving.length;
    const held = this.publisher.lanes.drop(moving);
    for (const entry of moving) entry.owner = undefined;
    for (const entry of moving) this.publisher.route(entry);
    for (const entry of held) if (entries.has(entry.id)) this.publisher.route(entry);
  }
}

/** Longest partition key, in characters, that a late refusal's report quotes whole. */
const QUOTED_KEY = 64;

/**
 * The report of a publish refused after its publish() resolved: the message
 * names its stream, its partition key and its id, so that the application can
 * tell which of its messages was not handled (nobody awaits it any more).
 */
export function lateRefusal(entry: Entry, refusal: { readonly code: string; readonly message: string }): RemoteError {
  const key = messageOf(entry).partitionKey;
  const message =
    `publish ${entry.id} of stream "${entry.stream}" with partition key ${quoteBytes(key, QUOTED_KEY)} ` +
    `was refused after publish() resolved, and was not handled: ${refusal.message}`;
  return new RemoteError(refusal.code, message, undefined, entry.stream);
}
