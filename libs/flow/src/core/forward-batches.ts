import { readU32, U64, view, writeU32 } from './bytes';
import { ProtocolError } from './errors';
import { FRAME_HEADER_SIZE, FRAME_VERSION } from './frame';
import type { Clock } from './clock';
import type { Key } from './key';
import type { BatchTarget } from './publish-wire';
import { ringPositions } from './virtual-nodes';
import type { MessageHeaders } from './pubsub';
import type { NodeSubjects } from './subjects';

/**
 * Forward batches (docs/PROTOCOL.md, "Forward batches"): the direct FWDs a
 * publisher sends to one Flow owner within one turn go as one transport
 * message, a container frame of type 'FBAT' whose payload is the frames one
 * after the other, each preceded by its length (u32). Only owners that said
 * they take them (the 'FBAT' extension of their notices, publish-wire.ts)
 * receive one; Go flow never does.
 */
export const FBAT = 0x46424154;

/**
 * Container bytes before a batch is sent without waiting for the turn to end.
 * Small next to a socket read (64 KiB): nats.js copies a message that spans
 * two reads into a buffer it grows, which costs more the larger the message.
 */
export const BATCH_BYTES = 16 * 1024;

/** Owner positions whose batch subject is remembered, at most (more than any ring has). */
const MAX_BATCH_SUBJECTS = 1 << 16;
/** Nodes whose ring positions are remembered, at most. */
const MAX_NODES = 1024;

/** True when `data` is a forward batch (its frame type is 'FBAT'). */
export function isForwardBatch(data: Uint8Array): boolean {
  return data.length >= FRAME_HEADER_SIZE && readU32(data, 4) === FBAT;
}

/**
 * Calls `each` with every frame of the batch `data`, in order (views into
 * `data`). Throws ProtocolError, after the frames before the fault, when a
 * length overruns the declared payload, or when a frame is itself a batch.
 */
export function forEachBatched(data: Uint8Array, each: (frame: Uint8Array) => void): void {
  const declared = readU32(data, 8);
  if (declared > data.length - FRAME_HEADER_SIZE) throw new ProtocolError('batch', `payload of ${declared} bytes exceeds the ${data.length - FRAME_HEADER_SIZE} present`);
  const end = FRAME_HEADER_SIZE + declared;
  let at = FRAME_HEADER_SIZE;
  while (at < end) {
    if (end - at < 4) throw new ProtocolError('batch', `${end - at} bytes left where a frame length was expected`);
    const length = readU32(data, at);
    at += 4;
    if (length > end - at) throw new ProtocolError('batch', `a frame of ${length} bytes overruns the batch`);
    const frame = view(data, at, at + length);
    if (isForwardBatch(frame)) throw new ProtocolError('batch', 'a batch inside a batch');
    each(frame);
    at += length;
  }
}

/** One batch of `frames` (`bytes`: their lengths plus 4 per frame). */
export function encodeBatch(frames: readonly Uint8Array[], bytes = frames.reduce((n, frame) => n + 4 + frame.length, 0)): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_SIZE + bytes);
  writeU32(out, 0, FRAME_VERSION);
  writeU32(out, 4, FBAT);
  writeU32(out, 8, bytes);
  let at = FRAME_HEADER_SIZE;
  for (const frame of frames) {
    writeU32(out, at, frame.length);
    out.set(frame, at + 4);
    at += 4 + frame.length;
  }
  return out;
}

interface Pending {
  frames: Uint8Array[];
  bytes: number;
}

/**
 * Collects frames per destination subject and sends each subject's as one
 * batch (a single frame goes as it is) from a microtask queued with the
 * first frame, so after the code that published them synchronously, or at
 * once when BATCH_BYTES are queued. A batch stays within the transport's
 * max payload: a frame that would take it over sends what is queued first
 * (and one too large to share a batch goes alone). A frame sent alone on the
 * way to a destination with frames queued goes after them: sends to one
 * owner keep their order.
 */
export class ForwardBatcher {
  private readonly pending = new Map<string, Pending>();
  private scheduled = false;
  private readonly flushAll = (): void => this.flush();
  /** Container payload bytes a batch may hold: the transport's max payload, read as each batch starts. */
  private room = Infinity;

  constructor(
    private readonly send: (subject: string, data: Uint8Array, headers?: MessageHeaders) => void,
    private readonly maxPayload: () => number | undefined = () => undefined,
  ) {}

  /** Queues `frame` for the batch to `subject`. */
  add(subject: string, frame: Uint8Array): void {
    let pending = this.pending.get(subject);
    if (pending === undefined) this.pending.set(subject, (pending = { frames: [], bytes: 0 }));
    if (pending.frames.length === 0) this.room = (this.maxPayload() ?? Infinity) - FRAME_HEADER_SIZE;
    else if (pending.bytes + 4 + frame.length > this.room) this.sendPending(subject, pending);
    pending.frames.push(frame);
    pending.bytes += 4 + frame.length;
    if (pending.bytes >= BATCH_BYTES) this.sendPending(subject, pending);
    else if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flushAll);
    }
  }

  /** Sends `frame` alone on `subject`, after what is queued for `batchSubject`. */
  sendAlone(subject: string, frame: Uint8Array, headers: MessageHeaders | undefined, batchSubject: string | undefined): void {
    const pending = batchSubject === undefined ? undefined : this.pending.get(batchSubject);
    if (pending !== undefined) this.sendPending(batchSubject!, pending);
    this.send(subject, frame, headers);
  }

  /**
   * Sends everything queued now (also on close, so nothing queued is left
   * behind). A destination stays in the map while it gets frames, and leaves
   * at the first flush that finds nothing for it: never Map.clear() once a
   * turn, whose replaced table links to its successor, so that one table
   * left in the old generation keeps every later turn's frames alive through
   * each scavenge (measured on the owner's notices, owner-notices.ts).
   */
  flush(): void {
    this.scheduled = false;
    for (const [subject, pending] of this.pending) {
      if (pending.frames.length === 0) this.pending.delete(subject);
      else this.sendPending(subject, pending);
    }
  }

  private sendPending(subject: string, pending: Pending): void {
    const { frames, bytes } = pending;
    if (frames.length === 0) return;
    pending.frames = [];
    pending.bytes = 0;
    this.send(subject, frames.length === 1 ? frames[0] : encodeBatch(frames, bytes));
  }
}

/**
 * Where a publisher's FWDs go. A ring position whose node's notices said
 * "batches to this key" (learn) gets its first sends batched to that node's
 * subject; resends, FWDs with headers and everything for other positions go
 * alone to the position's subject, after what is batched for its node. A
 * node whose notice no longer says it (an older version under the same name)
 * is unlearned by the first notice it sends, which answers a resend.
 */
export class ForwardRoutes {
  /** Position (text) -> its node's subject, for positions whose node takes batches. */
  private readonly batchSubjects = new Map<string, string>();
  private readonly batcher: ForwardBatcher;
  /** Asks sent (fire-and-forget FWD id -> position) and when each position was asked last. */
  private readonly asks = new Map<U64, string>();
  private readonly askedAt = new Map<string, number>();
  private lastTarget: BatchTarget | undefined;
  private lastSubject = '';
  /** Ring positions per batch target (node key and virtual nodes), as text. */
  private readonly positions = new Map<string, ReadonlySet<string>>();

  constructor(
    private readonly nodeSubjects: NodeSubjects,
    send: (subject: string, data: Uint8Array, headers?: MessageHeaders) => void,
    private readonly enabled: boolean,
    maxPayload?: () => number | undefined,
  ) {
    this.batcher = new ForwardBatcher(send, maxPayload);
  }

  /** `frame` to ring position `owner`; `batchable`: a first send, which may wait for the end of the turn. */
  send(owner: Key, ownerText: string, frame: Uint8Array, headers: MessageHeaders | undefined, batchable: boolean): void {
    const batchTo = this.batchSubjects.size === 0 ? undefined : this.batchSubjects.get(ownerText);
    if (batchTo !== undefined && batchable && headers === undefined) this.batcher.add(batchTo, frame);
    else this.batcher.sendAlone(this.nodeSubjects.of(owner), frame, headers, batchTo);
  }

  /**
   * A notice about a FWD sent to position `ownerText` named `batchTo` (its
   * sender takes batches) or nothing. Learned only when the position is one of
   * the sender's: a late notice from an earlier owner of a moved publish says
   * nothing about the position the publish is at now.
   */
  learn(ownerText: string, batchTo: BatchTarget | undefined): void {
    if (!this.enabled) return;
    if (batchTo === undefined) {
      if (this.batchSubjects.size > 0) this.batchSubjects.delete(ownerText);
      return;
    }
    // One notice names one target for all its ids: its subject is looked up once.
    if (batchTo !== this.lastTarget) {
      this.lastTarget = batchTo;
      this.lastSubject = this.nodeSubjects.of(batchTo.node);
    }
    const subject = this.lastSubject;
    if (this.batchSubjects.get(ownerText) === subject || !this.positionsOf(batchTo).has(ownerText)) return;
    if (this.batchSubjects.size >= MAX_BATCH_SUBJECTS) this.batchSubjects.clear();
    this.batchSubjects.set(ownerText, subject);
  }

  /** Whether `position` (text) is one of `target`'s node's ring positions. */
  isPositionOf(target: BatchTarget, position: string): boolean {
    return this.positionsOf(target).has(position);
  }

  /** The ring positions of `target`'s node, as text (cached per node). */
  private positionsOf(target: BatchTarget): ReadonlySet<string> {
    const id = `${target.node.toString()}/${target.virtualNodes}`;
    let positions = this.positions.get(id);
    if (positions === undefined) {
      if (this.positions.size >= MAX_NODES) this.positions.clear();
      positions = new Set(ringPositions(target.node, target.virtualNodes).map(String));
      this.positions.set(id, positions);
    }
    return positions;
  }

  /**
   * Whether fire-and-forget FWD `id` to `ownerText` asks (PublishFlags.AskBatches)
   * whether that position's node takes batches: not when known, at most once
   * per position every `everyMs`. The answer is a notice naming `id`. The
   * clock is read only past the first test: once batches are learned, every
   * fire-and-forget FWD would otherwise pay for a clock read (about 0.2 µs here).
   */
  shouldAsk(ownerText: string, id: U64, clock: Pick<Clock, 'now'>, everyMs: number): boolean {
    if (!this.enabled || this.batchSubjects.has(ownerText)) return false;
    const now = clock.now();
    const at = this.askedAt.get(ownerText);
    if (at !== undefined && now - at < everyMs) return false;
    if (this.asks.size >= MAX_BATCH_SUBJECTS) (this.asks.clear(), this.askedAt.clear());
    this.askedAt.set(ownerText, now);
    this.asks.set(id, ownerText);
    return true;
  }

  /** A notice named `id`, which no publish of ours is: the answer to an ask, if it was one. */
  answered(id: U64, batchTo: BatchTarget | undefined): void {
    if (this.asks.size === 0) return;
    const ownerText = this.asks.get(id);
    if (ownerText === undefined) return;
    this.asks.delete(id);
    this.learn(ownerText, batchTo);
  }

  /** The position was found dead. */
  forget(ownerText: string): void {
    this.batchSubjects.delete(ownerText);
  }

  /** Sends what is batched now (before the connection closes). */
  flush(): void {
    this.batcher.flush();
  }
}
