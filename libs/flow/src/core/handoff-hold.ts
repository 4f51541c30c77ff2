import type { Hold } from './handoff-host';
import type { Redirect } from './handoff-wire';
import type { Key } from './key';
import { containsHash, intersect, Interval, normalize } from './key-ranges';
import { partitionLane } from './partition-scheduler';

/** True when `hold` keeps `partition` (hash `hash`) waiting: in an unreleased interval, or on a draining lane. */
export function catches(hold: Hold, partition: Key, hash: bigint): boolean {
  if (containsHash(hold.pending, hash)) return true;
  return containsHash(hold.released, hash) && (hold.lanes === undefined || hold.lanes.has(partitionLane(partition)));
}

/**
 * The earlier owners that `holds` still wait for in `intervals` (pending, or
 * released with lanes draining), leaving out the asker itself (`asker`, its
 * positions `own`): the asker must ask them too.
 */
export function redirectsOf(holds: readonly Hold[], asker: Key, own: readonly Key[], intervals: readonly Interval[]): Redirect[] {
  const redirects: Redirect[] = [];
  for (const hold of holds) {
    if (hold.from.equals(asker) || own.some((position) => position.equals(hold.from))) continue;
    const draining = hold.lanes === undefined || hold.lanes.size > 0 ? hold.released : [];
    const waiting = intersect(normalize([...hold.pending, ...draining]), intervals);
    if (waiting.length > 0) redirects.push({ node: hold.from, intervals: waiting });
  }
  return redirects;
}

/** True when `hold` waits for the node `node` (asked by its node key, or by one of its positions). */
export function waitsFor(hold: Hold, node: Key, positions: readonly Key[] | undefined): boolean {
  if (hold.from.equals(node) || hold.position.equals(node)) return true;
  return positions?.some((position) => position.equals(hold.from) || position.equals(hold.position)) ?? false;
}
