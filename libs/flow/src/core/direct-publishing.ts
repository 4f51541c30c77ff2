import { Acceptor, AcceptorHost } from './acceptor';
import type { FlowError } from './errors';
import type { Forwarder } from './forwarder';
import type { MsgPayload } from './frame';
import type { Membership } from './membership';
import { Publisher, PublisherHost } from './publisher';
import type { RingView } from './ring-view';

/** What a broker hands to its direct-publishing collaborators. */
export interface DirectPublishingHost
  extends Omit<PublisherHost, 'ownerOf' | 'viewAwaited' | 'whenViewSettled' | 'isLocal' | 'dispatchLocal' | 'viaQueueGroup' | 'suspect' | 'delivered' | 'reportError'>,
    Omit<AcceptorHost, 'send'> {
  readonly forwarder: Forwarder;
  /** The publisher's view until it joins (ring-view.ts). */
  view(): RingView | undefined;
  /** Started, not draining: a joined broker's own view routes direct only then. */
  isStarted(): boolean;
  report(kind: string, error: FlowError): void;
}

/**
 * Builds both sides of direct publishing (docs/PROTOCOL.md, "Direct
 * publishing") over one broker: the Publisher, which sends keyed messages to
 * their owners by the broker's view (its membership once joined, else its
 * RingView), and the Acceptor, which answers them as owner.
 */
export function directPublishing(host: DirectPublishingHost): { publisher: Publisher; acceptor: Acceptor } {
  const membership = (): Membership | undefined => host.membership();
  const publisher = new Publisher({
    ...host,
    ownerOf: (stream, kind, partition) => {
      const joined = membership();
      if (joined === undefined) return host.view()?.ownerOf(stream, kind, partition);
      return host.dispatcher.kindOf(stream) === kind && host.isStarted() ? joined.table.ownerOf(partition) : undefined;
    },
    viewAwaited: () => membership() === undefined && host.view()?.isAwaited === true,
    whenViewSettled: (listener) => host.view()?.whenSettled(listener),
    isLocal: (key) => membership()?.table.isLocal(key) ?? false,
    dispatchLocal: (msg) => host.route(msg),
    viaQueueGroup: (msg: MsgPayload) => {
      host.counters.viaQueueGroup++;
      host.send(msg.stream, host.options.codec.encode(msg), msg.headers);
    },
    suspect: (key) => void (membership()?.declareDead(key) ?? host.view()?.suspect(key)),
    delivered: (owner, msg) => host.forwarder.recordDelivered(owner, msg, true),
    reportError: (error) => host.report(`publish:${error.code}`, error),
  });
  return { publisher, acceptor: new Acceptor(host) };
}
