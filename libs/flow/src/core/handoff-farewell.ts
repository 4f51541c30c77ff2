import { Capability, supports } from './capabilities';
import { isEmpty } from './handoff-answers';
import type { HandoffHost } from './handoff-host';
import { encodeFarewell, Redirect } from './handoff-wire';
import type { Key } from './key';
import { Interval, MAX_HASH } from './key-ranges';

/** Every hash: a farewell releases all of them. */
const ALL_HASHES: readonly Interval[] = [{ lo: 0n, hi: MAX_HASH }];

/**
 * The farewell (docs/PROTOCOL.md, "Handoff between Flow brokers"): a broker
 * that closes with no partition lane queued or running tells every member
 * that announced handoff, before its node subject goes, that it runs nothing
 * any more. A new owner whose query it will never hear stops waiting for it
 * at once: NATS drops a message it routed to a subscription the client has
 * just ended, without a "no responders", which cost the asker an ackTimeout.
 * With a lane busy (an abrupt close(), a shutdown past its timeout) it says
 * nothing: the askers' patience rules decide, as before.
 *
 * `redirectsFor` names the earlier owners this broker itself still waited
 * for (a chain of moves): the askers ask them instead.
 */
export function sayFarewell(
  host: Pick<HandoffHost, 'options' | 'membership' | 'busyLanes' | 'send' | 'nodeSubjects'>,
  redirectsFor: (asker: Key, intervals: readonly Interval[]) => Redirect[],
): void {
  const membership = host.membership();
  if (membership === undefined || !isEmpty(host.busyLanes())) return;
  const self = host.options.nodeKey;
  const told = new Set<string>();
  for (const position of membership.table.members()) {
    const announced = membership.capabilities.of(position);
    if (announced === undefined || !supports(announced, Capability.Handoff)) continue;
    const node = announced.nodeKey;
    if (node.equals(self) || told.has(node.toString())) continue;
    told.add(node.toString());
    host.send(host.nodeSubjects.of(node), encodeFarewell(self, redirectsFor(node, ALL_HASHES)));
  }
}
