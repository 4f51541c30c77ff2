import type { FlowError } from './errors';
import { lateRefusal } from './publish-recovery';
import { type Entry, messageOf, type PublisherHost } from './publisher-host';

/**
 * An acknowledged publish to a key its own broker owns (a member that
 * publishes), run there: settled by its own dispatcher as an owner's notice or
 * ERR settles a remote one. publish() resolves once the message is queued for
 * its handler (or held by a handoff), and rejects when the dispatcher refuses
 * it at once (overloaded, closing); after it resolved (this broker took the
 * key over from an owner that had accepted it), such a refusal is counted and
 * reported, as is one that comes later (a handoff sent it on, and that owner
 * refused it). Named, in case its routing sends it on after all (its ring
 * still lists the owner the publisher gave up on): that owner may hold it
 * already. Before, publish() resolved whatever the dispatcher did (seed 105
 * with member publishers and overload: node-1's own #1 of k2 met its full
 * queue, and the resolved publish was dropped).
 */
export function publishHere(host: PublisherHost, entry: Entry): void {
  const msg = Object.assign(messageOf(entry), { origin: { key: host.options.nodeKey, id: entry.id } });
  let placing = true;
  let refused: FlowError | undefined;
  msg.settle = (error, moved) => {
    if (error === undefined || moved === true) return;
    if (placing) refused = error;
    else refusedLate(host, entry, error);
  };
  host.dispatchLocal(msg);
  placing = false;
  if (refused === undefined) entry.resolve?.();
  else if (entry.reject !== undefined) entry.reject(refused);
  else refusedLate(host, entry, refused);
  entry.resolve = entry.reject = undefined;
}

function refusedLate(host: PublisherHost, entry: Entry, error: FlowError): void {
  host.counters.refusedLate++;
  host.reportError(lateRefusal(entry, error));
}
