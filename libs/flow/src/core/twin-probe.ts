import { Announcement, readAnnouncement } from './capabilities';
import { decodeFrame, encodeFrame, FrameType } from './frame';
import { Key, randomKey } from './key';
import type { ResolvedBrokerOptions } from './options';
import type { MessageHeaders, PubSub, Subscription } from './pubsub';
import { nodeSubject } from './subjects';

/**
 * The header that marks a PING as an identity check (docs/PROTOCOL.md,
 * "Identity check and conflict notice"). A Flow broker answers such a PING at
 * its node key even before it joins (a publisher-only broker), and only such
 * a PING: liveness probes of a stale ring position never get an answer from a
 * broker that does not own it. Go brokers ignore headers and answer every PING.
 */
export const IDENTITY_CHECK_HEADER = 'Flow-Identity-Check';
const CHECK_HEADERS: MessageHeaders = Object.freeze({ [IDENTITY_CHECK_HEADER]: '1' });

/** True when the PING that came with `headers` is an identity check. */
export function isIdentityCheck(headers: MessageHeaders | undefined): boolean {
  return headers !== undefined && headers[IDENTITY_CHECK_HEADER] !== undefined;
}

/** A key whose broker answered: the live twin, and its announcement when it is a Flow broker. */
export interface LiveTwin {
  readonly key: Key;
  readonly announcement: Announcement | undefined;
}

/**
 * Finds a live broker holding one of `keys`, by an answer from that broker:
 * one PING per key to `<clique>.<key>`, sent from a fresh random sender key
 * whose node subject is subscribed for the duration, with the identity-check
 * header. An INFO answer carrying the PING's id proves a live twin; the
 * transport's no-responders (nobody subscribes the subject) and silence for an
 * ackTimeout (an operator's `nats sub '<clique>.>'`, a dead connection the
 * server has not dropped yet) do not. Resolves with the first twin that
 * answers, or undefined once every key has been ruled out or the ackTimeout
 * has passed: with no subscriber on any key, as fast as no-responders arrive.
 *
 * A transport without publishRequest is asked hasSubscribers first; one that
 * offers neither cannot tell, and the start goes on (undefined). Transport
 * errors also mean "cannot tell": the start goes on and fails there if the
 * transport is really unusable. So does a PING the transport refused (NATS:
 * a client of its own clique may not publish on its node subject,
 * docs/nats-permissions.conf), at once, without waiting the ackTimeout.
 */
export async function findLiveTwin(
  pubsub: PubSub,
  options: Pick<ResolvedBrokerOptions, 'clique' | 'ackTimeout' | 'clock'>,
  keys: readonly Key[],
): Promise<LiveTwin | undefined> {
  const candidates = await subscribed(pubsub, options, keys);
  if (candidates.length === 0) return undefined;
  const { clique, ackTimeout, clock } = options;
  const sender = randomKey();
  return new Promise<LiveTwin | undefined>((resolve) => {
    let pending = candidates.length;
    let settled = false;
    let timer: unknown;
    let subscription: Subscription | undefined;
    const stops: (() => void)[] = [];
    const settle = (twin: LiveTwin | undefined): void => {
      if (settled) return;
      settled = true;
      clock.clearTimeout(timer);
      for (const stop of stops) stop();
      subscription?.unsubscribe();
      resolve(twin);
    };
    const ruledOut = (): void => {
      if (--pending === 0) settle(undefined);
    };
    try {
      subscription = pubsub.subscribe(nodeSubject(clique, sender), {}, (_subject, data) => {
        const twin = answerIn(data, candidates);
        if (twin !== undefined) settle(twin);
      });
    } catch {
      settle(undefined);
      return;
    }
    // The answer subject must reach the server before any PING does.
    pubsub.flush().then(
      () => {
        if (settled) return;
        timer = clock.setTimeout(() => settle(undefined), ackTimeout, true);
        candidates.forEach((key, index) => {
          const ping = encodeFrame({ type: FrameType.Ping, id: index + 1, sender });
          try {
            stops.push(send(pubsub, nodeSubject(clique, key), ping, once(ruledOut)));
          } catch {
            ruledOut();
          }
        });
      },
      () => settle(undefined),
    );
  });
}

/** The keys that may have a subscriber: all of them where publishRequest tells at once. */
async function subscribed(
  pubsub: PubSub,
  { clique, ackTimeout }: Pick<ResolvedBrokerOptions, 'clique' | 'ackTimeout'>,
  keys: readonly Key[],
): Promise<readonly Key[]> {
  if (pubsub.publishRequest !== undefined) return keys;
  if (pubsub.hasSubscribers === undefined) return [];
  // The probe is an INFO with id 0 and no keys, which every broker ignores.
  const probe = encodeFrame({ type: FrameType.Info, id: 0, neighbours: [] });
  const answers = await Promise.all(
    keys.map((key) => pubsub.hasSubscribers!(nodeSubject(clique, key), probe, ackTimeout).catch(() => undefined)),
  );
  return keys.filter((_key, index) => answers[index] !== false);
}

/** `ruledOut`: nobody subscribes the subject, or the transport refused the PING (nobody got it: cannot tell). */
function send(pubsub: PubSub, subject: string, ping: Uint8Array, ruledOut: () => void): () => void {
  if (pubsub.publishRequest !== undefined) return pubsub.publishRequest(subject, ping, ruledOut, CHECK_HEADERS, ruledOut);
  pubsub.publish(subject, ping, CHECK_HEADERS);
  return () => undefined;
}

/** The twin an INFO on the answer subject speaks for; anything else there is ignored. */
function answerIn(data: Uint8Array, candidates: readonly Key[]): LiveTwin | undefined {
  try {
    const frame = decodeFrame(data);
    if (frame.type !== FrameType.Info || typeof frame.id !== 'number') return undefined;
    const key = candidates[frame.id - 1];
    if (key === undefined) return undefined;
    let announcement: Announcement | undefined;
    try {
      announcement = readAnnouncement(data);
    } catch {
      // A malformed announcement does not unmake the answer.
    }
    return { key, announcement };
  } catch {
    return undefined;
  }
}

function once(act: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    act();
  };
}
