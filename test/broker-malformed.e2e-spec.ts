/**
 * Garbage published with a raw NATS connection on every subject a broker
 * listens to: stream subjects, the clique subject and node subjects. It must
 * be counted as malformed and change nothing else.
 */
import { connect, type NatsConnection } from 'nats';
import { startNatsServer, type NatsServer } from './harness/nats-server';
import { BrokerFleet } from './support/broker-fleet';
import { launchPatientClique } from './support/patient-clique';
import type { BrokerProcess } from './support/broker-process';
import { quiesce } from './support/clique-waits';
import { runKeyedStream } from './support/keyed-stream';
import type { RingView } from './support/worker-protocol';
import { MESSAGE_STREAM, REQUEST_STREAM } from './support/worker-configs';

const CLIQUE = 'malformed';

/** A frame header (version 1, four-letter type, declared payload length) followed by `payload`. */
function frame(type: string, declaredLength: number, payload: number[] = []): Uint8Array {
  const bytes = new Uint8Array(12 + payload.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, 1);
  for (let i = 0; i < 4; i++) bytes[4 + i] = type.charCodeAt(i);
  view.setUint32(8, declaredLength);
  bytes.set(payload, 12);
  return bytes;
}

/** Big-endian u32. */
function u32(value: number): number[] {
  return [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
}

const zeros = (n: number): number[] => new Array<number>(n).fill(0);

/** Undecodable as DefaultCodec stream messages. */
const BAD_STREAM_MESSAGES = [
  new Uint8Array(0),
  new Uint8Array([1, 2, 3]),
  new Uint8Array([...u32(0xffffffff), 0x61]),
  new Uint8Array([...u32(1), 0x61, ...u32(1000), 0x62]),
];

/** Undecodable frames, for request streams, the clique subject and node subjects. */
const BAD_FRAMES = [
  new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0x00]),
  frame('NOPE', 0),
  frame('JOIN', 4, [1, 2, 3, 4]),
  frame('INFO', 0xffffffff, zeros(16)),
];

/**
 * For node subjects: a FWD whose message lengths overrun the frame, a short
 * PING, and a well-formed JOIN, which belongs on the clique subject only.
 */
const BAD_NODE_FRAMES = [
  frame('FWD ', 28, [...zeros(16), ...zeros(8), ...u32(999)]),
  frame('PING', 8, zeros(8)),
  frame('JOIN', 8, zeros(8)),
];

/** For the clique subject: a well-formed PING, which belongs on node subjects only. */
const BAD_CLIQUE_FRAMES = [frame('PING', 16, zeros(16))];

describe('three broker processes receiving malformed bytes on every subject they listen to', () => {
  const fleet = new BrokerFleet();
  let server: NatsServer;
  let raw: NatsConnection;
  let handlers: BrokerProcess[];
  let publisher: BrokerProcess;
  let ring: { label: string; view: RingView }[];

  beforeAll(async () => {
    server = await startNatsServer();
    raw = await connect({ servers: server.url });
    ({ handlers, publisher, ring } = await launchPatientClique(fleet, server.url, CLIQUE, 'malformed'));
  });

  afterAll(async () => {
    await raw?.close();
    await fleet.stop();
    await server?.stop();
  });

  it('counts each as malformed, keeps every broker alive and the ring unchanged, and handles later messages', async () => {
    const before = await Promise.all(handlers.map((h) => h.counters()));

    for (const bytes of BAD_STREAM_MESSAGES) raw.publish(MESSAGE_STREAM, bytes);
    for (const bytes of BAD_FRAMES) raw.publish(REQUEST_STREAM, bytes);
    for (const bytes of [...BAD_FRAMES, ...BAD_CLIQUE_FRAMES]) raw.publish(CLIQUE, bytes);
    for (const { view } of ring) {
      // The node key's subject and one further virtual node's subject of each broker.
      const subjects = [view.nodeKey, view.positions.find((p) => p !== view.nodeKey)!].map((key) => `${CLIQUE}.${key}`);
      for (const subject of subjects) for (const bytes of [...BAD_FRAMES, ...BAD_NODE_FRAMES]) raw.publish(subject, bytes);
    }
    await raw.flush();
    const after = await quiesce(handlers);

    const added = after.map((c, i) => c.malformed - before[i]!.malformed);
    const perBroker = BAD_FRAMES.length + BAD_CLIQUE_FRAMES.length + 2 * (BAD_FRAMES.length + BAD_NODE_FRAMES.length);
    const onStreams = BAD_STREAM_MESSAGES.length + BAD_FRAMES.length;
    expect(added.every((n) => n >= perBroker)).toBe(true);
    expect(added.reduce((sum, n) => sum + n, 0)).toBe(handlers.length * perBroker + onStreams);
    expect(after.map((c, i) => c.received - before[i]!.received).reduce((sum, n) => sum + n, 0)).toBe(onStreams);
    expect(after.map((c) => c.errors['FLOW_PROTOCOL'] ?? 0).every((n) => n > 0)).toBe(true);
    expect(after.map((c, i) => c.handled - before[i]!.handled)).toEqual([0, 0, 0]);
    expect([...handlers, publisher].map((w) => w.alive)).toEqual([true, true, true, true]);
    const views = await Promise.all(handlers.map((h) => h.snapshot()));
    expect(views.map((v) => v.members)).toEqual(ring.map((r) => r.view.members));

    const run = await runKeyedStream({ publisher, handlers, ring, count: 2_000, window: 1_000 });
    expect(run.tally.missing).toEqual([]);
    expect(run.tally.duplicates).toBe(0);
    expect(run.misrouted).toEqual([]);
  });
});
