import { keyFromString, parseKey } from 'nestjs-flow/core';
import { Ring } from '../../libs/flow/src/core/ring';
import type { RingView } from './worker-protocol';

/**
 * Ownership as a test computes it from snapshots, independently of any
 * broker's routing: the owner of a partition key on the ring `members`.
 */
export function ownerLookup(members: readonly string[]): (partitionKey: string) => string {
  const ring = new Ring();
  for (const member of members) ring.add(parseKey(member));
  if (ring.size === 0) throw new Error('an empty ring owns nothing');
  return (partitionKey) => ring.ownerOf(keyFromString(partitionKey))!.toString();
}

/** Which worker label holds each ring position. */
export function positionHolders(views: readonly { label: string; view: RingView }[]): Map<string, string> {
  const holders = new Map<string, string>();
  for (const { label, view } of views) for (const position of view.positions) holders.set(position, label);
  return holders;
}

/** True when every view lists exactly the same members. */
export function sameMembers(views: readonly RingView[]): boolean {
  const first = views[0]?.members.join(',');
  return views.every((view) => view.members.join(',') === first);
}
