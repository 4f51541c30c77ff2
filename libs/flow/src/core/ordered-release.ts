import type { MsgPayload } from './frame';
import type { Key } from './key';
import { partitionLane } from './partition-scheduler';

/**
 * Routes messages held for a handoff (handoff.ts) that now belong to other
 * owners, in their order. Within a partition lane each goes only once the one
 * before it was accepted by its owner or settled (handled, refused, dropped);
 * keyless messages and requests go at once. Routed all at once, two forwards of one key could reach a new
 * owner the other way round (a lost forward sent again; reordered deliveries
 * in the simulation, seeds 55678, 57936, 66104), and nothing there would put them
 * back: a member's forwards name no predecessor, as a publisher's do.
 */
export function releaseInOrder(messages: readonly MsgPayload[], partitionOf: (msg: MsgPayload) => Key, route: (msg: MsgPayload) => void): void {
  const lanes = new Map<number, MsgPayload[]>();
  for (const msg of messages) {
    if (msg.partitionKey.length === 0 || msg.reply.length > 0) {
      route(msg);
      continue;
    }
    const lane = partitionLane(partitionOf(msg));
    const queue = lanes.get(lane);
    if (queue === undefined) lanes.set(lane, [msg]);
    else queue.push(msg);
  }
  for (const queue of lanes.values()) sendInOrder(queue, route);
}

/** Sends `queue`'s messages one after another; a message settled within route() does not recurse. */
function sendInOrder(queue: readonly MsgPayload[], route: (msg: MsgPayload) => void): void {
  let sending = false;
  let ready = true;
  let next = 0;
  const pump = (): void => {
    ready = true;
    if (sending) return;
    sending = true;
    try {
      while (ready && next < queue.length) {
        ready = false;
        const msg = queue[next++];
        whenTaken(msg, pump);
        route(msg);
      }
    } finally {
      sending = false;
    }
  };
  pump();
}

/** Calls `next` once, when `msg` is first accepted or settled, besides what those did. */
function whenTaken(msg: MsgPayload, next: () => void): void {
  const { accepted, settle } = msg;
  let told = false;
  const tell = (): void => {
    if (told) return;
    told = true;
    next();
  };
  msg.accepted = () => {
    accepted?.();
    tell();
  };
  msg.settle = (error, moved) => {
    settle?.(error, moved);
    if (moved !== true) tell();
  };
}
