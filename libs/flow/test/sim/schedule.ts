import { SeededRandom, seededRandom } from '../../src/testing/seeded-random';

/**
 * What a simulated run does, drawn in full from one seed before it starts.
 * Times are virtual milliseconds on the run's ManualClock.
 */

/** How membership moves during a run; drawn per seed, one third each. */
export type MembershipClass = 'stable' | 'changes' | 'crashes';

export type SimEvent =
  /**
   * `from` (`memberPublishers`): a handling broker publishes it instead, when that node is live and joined then.
   * `request` (`requests`): a keyed request on the request stream instead of a publish.
   */
  | { readonly at: number; readonly kind: 'publish'; readonly publisher: number; readonly key: string; readonly seq: number; readonly from?: string; readonly request?: true }
  /** A broker with a new node name starts and joins. */
  | { readonly at: number; readonly kind: 'join'; readonly node: string }
  /** A live broker leaves: close() (LEAV, in-flight work abandoned) or shutdown() (LEAV, then drains). */
  | { readonly at: number; readonly kind: 'leave'; readonly node: string; readonly how: 'close' | 'shutdown' }
  /** A live broker's connection is killed: its subscriptions vanish, nobody is told. */
  | { readonly at: number; readonly kind: 'crash'; readonly node: string }
  /** A node that left or crashed starts again with the same node name. */
  | { readonly at: number; readonly kind: 'restart'; readonly node: string }
  /** A live broker's connection is down for `forMs` (disconnect(), then reconnect()). */
  | { readonly at: number; readonly kind: 'disconnect'; readonly node: string; readonly forMs: number }
  /** A publisher stops (its connection killed, close(), or shutdown(), which drains first); `publisherRestart` only. */
  | { readonly at: number; readonly kind: 'publisher-stop'; readonly publisher: number; readonly how: PublisherStop }
  /** The stopped publisher starts again under its node name, once its stop has finished; `publisherRestart` only. */
  | { readonly at: number; readonly kind: 'publisher-start'; readonly publisher: number };

/** How a publisher stops: 'crash' kills its connection (nothing sent after), then close()s it. */
export type PublisherStop = 'crash' | 'close' | 'shutdown';

export interface Faults {
  /** Probability that one delivery of a broker-to-broker frame (clique or node subject) is dropped. */
  readonly drop: number;
  /** Probability that one delivery (any subject) is held back. */
  readonly delay: number;
  /** A held-back delivery arrives 1..maxDelayMs later. */
  readonly maxDelayMs: number;
}

export interface Schedule {
  readonly seed: number;
  readonly membership: MembershipClass;
  /** Handling brokers started at time 0, in this order. */
  readonly initial: readonly string[];
  /** Publishers (brokers without handlers): `pub-0` .. `pub-<n-1>`. */
  readonly publishers: number;
  readonly keys: readonly string[];
  /** Sorted by time. */
  readonly events: readonly SimEvent[];
  readonly faults: Faults;
  /** Frames are dropped and delayed only before this: the last event. */
  readonly faultsUntil: number;
  /** The run stops here: the last event plus a quiet period (no faults) for retries and convergence. */
  readonly endAt: number;
  /**
   * Overloaded owners (drawSchedule's `overload`): each handling broker's maxQueuedMessages, so small that
   * bursts, handoff holds and reconnects make owners refuse messages. Undefined: the default bound.
   */
  readonly queueBound: number | undefined;
  /** Handling brokers serve the request stream too (ScheduleOptions.requests). */
  readonly requests: boolean;
}

export interface ScheduleOptions {
  /** Handling brokers queue 1 to 3 messages at most (by seed), so that owners refuse some. */
  readonly overload?: boolean;
  /**
   * One publisher stops at a random time and starts again under its node name 1 to 100 ms later (a deploy,
   * a crash and its restart). Drawn from a stream of its own: the rest of the schedule stays the seed's.
   */
  readonly publisherRestart?: boolean;
  /**
   * Half of the publishes come from a handling broker (one of the initial nodes, by seed) when it is live and
   * joined at that moment: a service that handles and publishes, its own keys among them. Drawn from a stream of
   * its own, like the restart.
   */
  readonly memberPublishers?: boolean;
  /**
   * A third of the publishes are keyed requests instead (Broker.request), on a request stream whose handler
   * replies with the instance that ran it; the same keys, so requests and messages share lanes and owners.
   * Drawn from a stream of its own, like the restart.
   */
  readonly requests?: boolean;
}

/** Sizes of a schedule; small, so that a thousand seeds run in seconds. */
export const SCHEDULE = Object.freeze({
  minBrokers: 3,
  maxBrokers: 5,
  /** Live handling brokers never drop below this (a queue group with no member loses messages). */
  minLive: 2,
  maxPublishers: 2,
  keys: 4,
  minMessages: 12,
  maxMessages: 30,
  /** Publishes and membership events fall in [startMs, activeMs): after the initial rings converged. */
  startMs: 50,
  activeMs: 600,
  maxChanges: 3,
  /** After the last event: ample for stabilization (see SIM_BROKER) to find every change. */
  quietMs: 3_000,
});

const CLASSES: readonly MembershipClass[] = ['stable', 'changes', 'crashes'];
const DROP_RATES = [0, 0, 0.02, 0.05];
const DELAY_RATES = [0, 0, 0.1, 0.3];

export function drawSchedule(seed: number, options: ScheduleOptions = {}): Schedule {
  const random = seededRandom(seed);
  const between = (min: number, max: number): number => min + random.int(max - min + 1);
  const membership = CLASSES[random.int(CLASSES.length)];
  const initial = Array.from({ length: between(SCHEDULE.minBrokers, SCHEDULE.maxBrokers) }, (_, i) => `node-${i}`);
  const publishers = between(1, SCHEDULE.maxPublishers);
  const keys = Array.from({ length: SCHEDULE.keys }, (_, i) => `k${i}`);
  const events: SimEvent[] = [];
  const seqs = new Array<number>(publishers).fill(0);
  const messages = between(SCHEDULE.minMessages, SCHEDULE.maxMessages);
  // Even seeds (which batch forwards, world.ts) publish in bursts: each publish at the start of its 100 ms slot,
  // one per publisher and key per instant (a key's next one 1 ms later), so that batches form.
  const burst = seed % 2 === 0 ? 100 : 1;
  const taken = new Set<string>();
  for (let i = 0; i < messages; i++) {
    const publisher = random.int(publishers);
    const drawn = between(SCHEDULE.startMs, SCHEDULE.activeMs - 1);
    const key = keys[random.int(keys.length)];
    let at = drawn - ((drawn - SCHEDULE.startMs) % burst);
    while (taken.has(`${publisher}/${key}/${at}`)) at++;
    taken.add(`${publisher}/${key}/${at}`);
    events.push({ at, kind: 'publish', publisher, key, seq: 0 });
  }
  if (membership !== 'stable') events.push(...drawChanges(random, membership, initial));
  if (options.publisherRestart === true) events.push(...drawPublisherRestart(seed, publishers));
  if (options.memberPublishers === true) fromMembers(seed, events, initial);
  if (options.requests === true) asRequests(seed, events);
  const sorted = events
    .map((event, index) => ({ event, index }))
    .sort((a, b) => a.event.at - b.event.at || a.index - b.index)
    .map(({ event }) => (event.kind === 'publish' ? { ...event, seq: seqs[event.publisher]++ } : event));
  const faults: Faults = {
    drop: DROP_RATES[random.int(DROP_RATES.length)],
    delay: DELAY_RATES[random.int(DELAY_RATES.length)],
    maxDelayMs: between(1, 30),
  };
  const last = sorted.reduce((max, e) => Math.max(max, e.at + (e.kind === 'disconnect' ? e.forMs : 0)), 0);
  // Not drawn from `random`: the same seed gives the same schedule with and without overload (and restarts).
  const queueBound = options.overload === true ? 1 + (seed % 3) : undefined;
  const requests = options.requests === true;
  return { seed, membership, initial, publishers, keys, events: sorted, faults, faultsUntil: last, endAt: last + SCHEDULE.quietMs, queueBound, requests };
}

/** Membership events in time order, keeping at least `minLive` handling brokers live. */
function drawChanges(random: SeededRandom, membership: MembershipClass, initial: readonly string[]): SimEvent[] {
  const live = new Set(initial);
  const gone: string[] = [];
  let named = initial.length;
  const count = 1 + random.int(SCHEDULE.maxChanges);
  const times = Array.from({ length: count }, () => SCHEDULE.startMs + random.int(SCHEDULE.activeMs - SCHEDULE.startMs - 100)).sort((a, b) => a - b);
  const kinds = membership === 'crashes' ? ['join', 'leave', 'restart', 'crash', 'disconnect'] : ['join', 'leave', 'restart'];
  const out: SimEvent[] = [];
  for (const at of times) {
    const kind = kinds[random.int(kinds.length)];
    const pick = (from: readonly string[]): string => from[random.int(from.length)];
    if (kind === 'restart' && gone.length > 0) {
      const node = gone.splice(random.int(gone.length), 1)[0];
      live.add(node);
      out.push({ at, kind, node });
    } else if ((kind === 'leave' || kind === 'crash') && live.size > SCHEDULE.minLive) {
      const node = pick([...live]);
      live.delete(node);
      gone.push(node);
      if (kind === 'crash') out.push({ at, kind, node });
      else out.push({ at, kind, node, how: random.next() < 0.5 ? 'close' : 'shutdown' });
    } else if (kind === 'disconnect') {
      out.push({ at, kind, node: pick([...live]), forMs: 10 + random.int(200) });
    } else {
      const node = `node-${named++}`;
      live.add(node);
      out.push({ at, kind: 'join', node });
    }
  }
  // The crashes class always has at least one crash.
  if (membership === 'crashes' && !out.some((e) => e.kind === 'crash')) {
    if (live.size <= SCHEDULE.minLive) {
      const node = `node-${named++}`;
      live.add(node);
      out.push({ at: SCHEDULE.activeMs - 90, kind: 'join', node });
    }
    out.push({ at: SCHEDULE.activeMs - 50, kind: 'crash', node: [...live][random.int(live.size)] });
  }
  return out;
}

/** One publisher's stop and restart, from a stream of its own (ScheduleOptions.publisherRestart). */
function drawPublisherRestart(seed: number, publishers: number): SimEvent[] {
  const random = seededRandom(seed ^ 0x9b5e7a);
  const publisher = random.int(publishers);
  const at = SCHEDULE.startMs + random.int(SCHEDULE.activeMs - SCHEDULE.startMs - 100);
  const how = (['crash', 'close', 'shutdown'] as const)[random.int(3)];
  return [
    { at, kind: 'publisher-stop', publisher, how },
    { at: at + 1 + random.int(100), kind: 'publisher-start', publisher },
  ];
}

/** Makes a third of the publishes requests (ScheduleOptions.requests), in place. */
function asRequests(seed: number, events: SimEvent[]): void {
  const random = seededRandom(seed ^ 0x726571);
  events.forEach((event, i) => {
    if (event.kind === 'publish' && random.next() < 1 / 3) events[i] = { ...event, request: true };
  });
}

/** Gives half of the publishes a handling broker to publish them (ScheduleOptions.memberPublishers), in place. */
function fromMembers(seed: number, events: SimEvent[], initial: readonly string[]): void {
  const random = seededRandom(seed ^ 0x6d656d);
  events.forEach((event, i) => {
    if (event.kind === 'publish' && random.next() < 0.5) events[i] = { ...event, from: initial[random.int(initial.length)] };
  });
}
