import type { U64 } from './bytes';
import { encodeAck } from './frame';
import { appendNotice, BatchTarget, NOTICE_ID_BYTES, noticeBytes } from './publish-wire';
import { nodeSubject } from './subjects';

/** What an owner's notices need from its broker. */
export interface OwnerNoticesHost {
  readonly clique: string;
  /** Named in every notice: this broker takes forward batches (forward-batches.ts). */
  readonly batchTo: BatchTarget;
  send(subject: string, frame: Uint8Array): void;
  /** The transport's max payload (PubSub.maxPayload): a notice with more ids than fit goes as several. */
  maxPayload(): number | undefined;
  /** Runs `task` after the current input (PubSub.afterInput): notices go out then. */
  afterInput(task: () => void): void;
}

/**
 * One publisher's notices of this turn. It stays from turn to turn while the
 * publisher is heard from, with its arrays (only their first `acceptedCount`
 * and `handledCount` ids count): a turn's notices allocate nothing once they
 * have grown to that publisher's usual turn.
 *
 * Not a fresh map, objects and arrays each turn, emptied with Map.clear():
 * V8 replaces a cleared map's table and links the old table to the new one
 * (for iterators still running), so an old table that had reached the old
 * generation kept every later turn's table, and its notices, alive through
 * each scavenge until the next full collection. A broker's scavenges then
 * kept about 80 KB each where a raw nats.js subscriber's keep 5 KB, and V8
 * doubled the young generation (docs/BENCHMARKS.md).
 */
interface Pending {
  accepted: U64[];
  acceptedCount: number;
  handled: U64[];
  handledCount: number;
  /** How many of `accepted`, from its start, were handled in that order (handlers mostly finish in the order they started). */
  handledInOrder: number;
  /** Handled ids that did not continue that run: only then is `accepted` searched for them. */
  handledOtherwise: number;
}

/**
 * The owner's "accepted" and "handled" notices to publishers (docs/PROTOCOL.md,
 * "Direct publishing"), gathered per publisher and sent as one ACK frame per
 * turn of the event loop, split only where the transport's max payload
 * requires. An id reported handled within the turn is not also listed as
 * accepted ("handled" says both).
 */
export class OwnerNotices {
  /** By the publisher's node key text. */
  private readonly pending = new Map<string, Pending>();
  private flushScheduled = false;
  private readonly flush = (): void => this.flushPending();

  constructor(private readonly host: OwnerNoticesHost) {}

  /** Notes that `id` of the publisher `origin` (its node key text) was accepted, or handled. */
  notify(origin: string, id: U64, handled: boolean): void {
    let pending = this.pending.get(origin);
    if (pending === undefined) {
      pending = { accepted: [], acceptedCount: 0, handled: [], handledCount: 0, handledInOrder: 0, handledOtherwise: 0 };
      this.pending.set(origin, pending);
    }
    if (!handled) pending.accepted[pending.acceptedCount++] = id;
    else {
      pending.handled[pending.handledCount++] = id;
      if (pending.handledInOrder < pending.acceptedCount && pending.accepted[pending.handledInOrder] === id) pending.handledInOrder++;
      else pending.handledOtherwise++;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.host.afterInput(this.flush);
    }
  }

  /** Sends what waits for the end of the turn now: the broker is closing, and that turn may come too late. */
  flushNow(): void {
    if (this.pending.size > 0) this.flushPending();
  }

  private flushPending(): void {
    this.flushScheduled = false;
    const limit = this.host.maxPayload();
    // Ids one notice can carry within the transport's max payload.
    const room = limit === undefined ? Infinity : Math.max(1, Math.floor((limit - noticeBytes(0)) / NOTICE_ID_BYTES));
    for (const [origin, pending] of this.pending) {
      // A publisher not heard from this turn is forgotten: the map holds the publishers of the last two turns at most.
      if (pending.acceptedCount + pending.handledCount === 0) {
        this.pending.delete(origin);
        continue;
      }
      const subject = nodeSubject(this.host.clique, origin);
      const handled = pending.handled.slice(0, pending.handledCount);
      const waiting = notHandled(pending);
      pending.acceptedCount = pending.handledCount = pending.handledInOrder = pending.handledOtherwise = 0;
      if (waiting.length + handled.length <= room) this.send(subject, waiting, handled);
      else {
        // Accepted ones first, as one notice would list them.
        const ids = [...waiting, ...handled];
        for (let at = 0; at < ids.length; at += room) {
          const end = Math.min(at + room, ids.length);
          this.send(subject, ids.slice(at, Math.min(end, waiting.length)), ids.slice(Math.max(at, waiting.length), end));
        }
      }
    }
  }

  private send(subject: string, accepted: readonly U64[], handled: readonly U64[]): void {
    this.host.send(subject, appendNotice(encodeAck(0), accepted, handled, this.host.batchTo));
  }
}

/** The accepted ids without those also handled; searched only when handlers finished out of order. */
function notHandled({ accepted, acceptedCount, handled, handledCount, handledInOrder, handledOtherwise }: Pending): U64[] {
  const rest = accepted.slice(handledInOrder, acceptedCount);
  if (handledOtherwise === 0 || rest.length === 0) return rest;
  const done = new Set(handled.slice(0, handledCount));
  return rest.filter((id) => !done.has(id));
}
