import { ManualClock } from '../testing/manual-clock';
import { decodeFrame, encodeFrame, Frame, FrameType } from './frame';
import { FlowError, TransportError } from './errors';
import { Key, keyFromString } from './key';
import { MemoryBus } from './memory-pubsub';
import { MessageHeaders, PubSub } from './pubsub';
import { findLiveTwin, IDENTITY_CHECK_HEADER, isIdentityCheck, LiveTwin } from './twin-probe';

const CLIQUE = '_global';
const ACK_TIMEOUT = 500;
const keys = [keyFromString('a'), keyFromString('b'), keyFromString('c')];

/** A promise with its outcome readable synchronously, for "not yet settled" assertions. */
function observe<T>(promise: Promise<T>) {
  const state: { settled: boolean; value?: T; promise: Promise<T> } = { settled: false, promise };
  void promise.then((value) => {
    state.settled = true;
    state.value = value;
  });
  return state;
}

/** Drains the bus, then lets every continuation of what it delivered run. */
async function quiet(bus: MemoryBus): Promise<void> {
  await bus.idle();
  await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * An operator's plain subscriber (`nats sub '<clique>.>'`), recording frames,
 * headers and subjects. The in-memory bus has no wildcards: it subscribes each
 * node subject of `watched`, which is what `>` covers for them.
 */
function operator(bus: MemoryBus, watched: readonly Key[] = keys) {
  const seen: { subject: string; frame: Frame; headers?: MessageHeaders }[] = [];
  const conn = bus.connect('operator');
  for (const key of watched) {
    conn.subscribe(`${CLIQUE}.${key}`, {}, (subject, data, headers) => seen.push({ subject, frame: decodeFrame(data), headers }));
  }
  return seen;
}

/** A broker stand-in at `key` answering every PING with INFO `answerId(id)`. */
function answerer(bus: MemoryBus, key: Key, answerId = (id: number) => id) {
  const conn = bus.connect('answerer');
  conn.subscribe(`${CLIQUE}.${key}`, {}, (_subject, data) => {
    const frame = decodeFrame(data);
    if (frame.type !== FrameType.Ping) return;
    conn.publish(`${CLIQUE}.${frame.sender}`, encodeFrame({ type: FrameType.Info, id: answerId(Number(frame.id)), neighbours: [] }));
  });
  return conn;
}

describe('findLiveTwin', () => {
  it('rules out keys nobody subscribes at once, by no-responders, without the clock moving', async () => {
    const bus = new MemoryBus();
    const clock = new ManualClock();
    await expect(findLiveTwin(bus.connect(), { clique: CLIQUE, ackTimeout: ACK_TIMEOUT, clock }, keys)).resolves.toBeUndefined();
    expect(clock.now()).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('does not take a plain subscriber of the keys for a twin: it starts after exactly one ackTimeout', async () => {
    const bus = new MemoryBus();
    const clock = new ManualClock();
    const seen = operator(bus);
    const prober = bus.connect('prober');
    const outcome = observe(findLiveTwin(prober, { clique: CLIQUE, ackTimeout: ACK_TIMEOUT, clock }, keys));
    await quiet(bus);
    clock.advance(ACK_TIMEOUT - 1);
    await quiet(bus);
    expect(outcome.settled).toBe(false);
    clock.advance(1);
    await expect(outcome.promise).resolves.toBeUndefined();

    // One identity-check PING per key, from one fresh sender that is none of the keys.
    const pings = seen.filter((s) => s.frame.type === FrameType.Ping);
    expect(pings.map((s) => s.subject).sort()).toEqual(keys.map((k) => `${CLIQUE}.${k}`).sort());
    expect(pings.every((s) => isIdentityCheck(s.headers))).toBe(true);
    const senders = new Set(pings.map((s) => String((s.frame as { sender: Key }).sender)));
    expect(senders.size).toBe(1);
    const [sender] = senders;
    expect(keys.map(String)).not.toContain(sender);
    // The answer subject is given up afterwards, and no timer is left behind.
    await expect(prober.hasSubscribers(`${CLIQUE}.${sender}`)).resolves.toBe(false);
    expect(clock.pending).toBe(0);
  });

  it('goes on at once when the transport refuses its PINGs (permissions), though an operator subscribes the keys', async () => {
    const bus = new MemoryBus();
    const clock = new ManualClock();
    const seen = operator(bus);
    const memory = bus.connect('prober');
    // A server that refuses publishing on the node subjects: each PING is refused, after the call, and reaches nobody.
    const prober: PubSub = Object.assign(Object.create(memory) as PubSub, {
      publishRequest: (_subject: string, _data: Uint8Array, _onNoResponders: () => void, _headers?: MessageHeaders, onRefused?: (error: FlowError) => void) => {
        queueMicrotask(() => onRefused?.(new TransportError('refused')));
        return () => undefined;
      },
      subscribe: memory.subscribe.bind(memory),
      flush: memory.flush.bind(memory),
    });
    await expect(findLiveTwin(prober, { clique: CLIQUE, ackTimeout: ACK_TIMEOUT, clock }, keys)).resolves.toBeUndefined();
    expect(clock.now()).toBe(0);
    expect(clock.pending).toBe(0);
    expect(seen.filter((s) => s.frame.type === FrameType.Ping)).toEqual([]);
  });

  it('proves a twin by its INFO answer, before the ackTimeout and despite an operator', async () => {
    const bus = new MemoryBus();
    const clock = new ManualClock();
    operator(bus);
    answerer(bus, keys[1]);
    const twin = await findLiveTwin(bus.connect(), { clique: CLIQUE, ackTimeout: ACK_TIMEOUT, clock }, keys);
    expect(twin).toEqual<LiveTwin>({ key: keys[1], announcement: undefined });
    expect(clock.now()).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('ignores an INFO with an id it did not send, and any other frame on its answer subject', async () => {
    const bus = new MemoryBus();
    const clock = new ManualClock();
    answerer(bus, keys[0], (id) => id + 100);
    const noisy = bus.connect('noisy');
    noisy.subscribe(`${CLIQUE}.${keys[2]}`, {}, (_subject, data) => {
      const ping = decodeFrame(data) as { sender: Key; id: number };
      noisy.publish(`${CLIQUE}.${ping.sender}`, encodeFrame({ type: FrameType.Ping, id: ping.id, sender: keys[2] }));
      noisy.publish(`${CLIQUE}.${ping.sender}`, new Uint8Array([1, 2, 3]));
    });
    const outcome = observe(findLiveTwin(bus.connect(), { clique: CLIQUE, ackTimeout: ACK_TIMEOUT, clock }, keys));
    await quiet(bus);
    expect(outcome.settled).toBe(false);
    clock.advance(ACK_TIMEOUT);
    await expect(outcome.promise).resolves.toBeUndefined();
  });

  it('asks a transport without publishRequest hasSubscribers first, and lets a transport that cannot tell start', async () => {
    const bus = new MemoryBus();
    const clock = new ManualClock();
    answerer(bus, keys[2]);
    const memory = bus.connect('limited');
    const asked: string[] = [];
    const limited: PubSub = {
      publish: (subject, data, headers) => memory.publish(subject, data, headers),
      subscribe: (subject, options, handler) => memory.subscribe(subject, options, handler),
      flush: () => memory.flush(),
      hasSubscribers: (subject) => {
        asked.push(subject);
        return memory.hasSubscribers(subject);
      },
      onStatus: (listener) => memory.onStatus(listener),
      close: () => memory.close(),
    };
    const twin = await findLiveTwin(limited, { clique: CLIQUE, ackTimeout: ACK_TIMEOUT, clock }, keys);
    expect(twin?.key).toEqual(keys[2]);
    expect(asked.sort()).toEqual(keys.map((k) => `${CLIQUE}.${k}`).sort());

    const blind: PubSub = { ...limited, hasSubscribers: undefined };
    await expect(findLiveTwin(blind, { clique: CLIQUE, ackTimeout: ACK_TIMEOUT, clock }, keys)).resolves.toBeUndefined();
    expect(clock.pending).toBe(0);
  });

  it('marks identity checks by a header that plain frames lack', () => {
    expect(isIdentityCheck({ [IDENTITY_CHECK_HEADER]: '1' })).toBe(true);
    expect(isIdentityCheck({ traceparent: '00-0-0-01' })).toBe(false);
    expect(isIdentityCheck(undefined)).toBe(false);
  });
});
