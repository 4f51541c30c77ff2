/**
 * Three broker processes on real nats-server under fuzzed input: every frame
 * type on every subject they listen to (clique, node subjects, message and
 * request streams), ids across the u64 range, truncated, inflated length
 * fields, near-1 MiB payloads, random and mutated bytes. Afterwards no process
 * has exited, the rings equal the real positions, and a keyed stream is
 * handled in full, each message once.
 */
import { connect, type NatsConnection } from 'nats';
import { fuzzFrames } from '../libs/flow/test/fuzz-frames';
import { decodeFrame, encodeFrame, type Frame, FrameType } from '../libs/flow/src/core/frame';
import { seededRandom } from '../libs/flow/src/testing/seeded-random';
import { startNatsServer, type NatsServer } from './harness/nats-server';
import { BrokerFleet } from './support/broker-fleet';
import { launchPatientClique } from './support/patient-clique';
import type { BrokerProcess } from './support/broker-process';
import { awaitConvergence, quiesce } from './support/clique-waits';
import { runKeyedStream } from './support/keyed-stream';
import type { RingView } from './support/worker-protocol';
import { MESSAGE_STREAM, REQUEST_STREAM } from './support/worker-configs';

const CLIQUE = 'fuzz';
const SEED = 0xf022_e2e9;
const FRAMES = 5_000;
/** Under nats-server's default max_payload (1 MiB) with the frame around it. */
const OVERSIZED = (1 << 20) - 4096;
const REPLY_SUBJECT = `${CLIQUE}.fuzzer`;
const utf8 = new TextEncoder();

describe('three broker processes under fuzzed frames on every subject (real NATS)', () => {
  const fleet = new BrokerFleet();
  let server: NatsServer;
  let raw: NatsConnection;
  let handlers: BrokerProcess[];
  let publisher: BrokerProcess;
  let ring: { label: string; view: RingView }[];
  const replies: Frame[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    raw = await connect({ servers: server.url });
    raw.subscribe(REPLY_SUBJECT, { callback: (_error, msg) => void replies.push(decodeFrame(msg.data)) });
    ({ handlers, publisher, ring } = await launchPatientClique(fleet, server.url, CLIQUE, 'fuzz'));
  });

  afterAll(async () => {
    await raw?.close();
    await fleet.stop();
    await server?.stop();
  });

  it('regression: 20 well-formed requests with id 2^60 are answered with that id and no broker exits', async () => {
    const id = 2n ** 60n;
    const before = replies.length;
    for (let n = 0; n < 20; n++) {
      const body = JSON.stringify({ mode: 'echo', text: `big-${n}` });
      const msg = { id, reply: REPLY_SUBJECT, stream: REQUEST_STREAM, partitionKey: utf8.encode(`big-${n}`), data: utf8.encode(body) };
      raw.publish(REQUEST_STREAM, encodeFrame({ type: FrameType.Msg, msg }));
    }
    await raw.flush();
    await quiesce(handlers);
    const answers = replies.slice(before);
    expect(answers).toHaveLength(20);
    for (const answer of answers) expect(answer).toMatchObject({ type: FrameType.Ack, id });
    expect([...handlers, publisher].map((w) => w.alive)).toEqual([true, true, true, true]);
  });

  it(`survives ${FRAMES} fuzzed frames, keeps rings at the real positions and then delivers a keyed stream in full (seed ${SEED.toString(16)})`, async () => {
    const truth = ring[0]!.view.members;
    const before = await Promise.all(handlers.map((h) => h.counters()));
    const frames = fuzzFrames(
      seededRandom(SEED),
      { clique: CLIQUE, positions: truth, messageStream: MESSAGE_STREAM, requestStream: REQUEST_STREAM, replySubject: REPLY_SUBJECT },
      FRAMES,
      { oversizedBytes: OVERSIZED },
    );
    for (let i = 0; i < frames.length; i++) {
      raw.publish(frames[i]!.subject, frames[i]!.bytes);
      if (i % 500 === 499) await raw.flush();
    }
    await raw.flush();
    const after = await quiesce(handlers, 60_000);

    expect([...handlers, publisher].map((w) => w.alive)).toEqual([true, true, true, true]);
    const malformed = after.reduce((n, c, i) => n + c.malformed - before[i]!.malformed, 0);
    expect(malformed).toBeGreaterThan(FRAMES / 4);
    expect(after.map((c) => c.contained)).toEqual([0, 0, 0]);
    // Rate limited: the protocol errors reported are a small fraction of those counted.
    const reported = after.reduce((n, c, i) => n + (c.errors['FLOW_PROTOCOL'] ?? 0) - (before[i]!.errors['FLOW_PROTOCOL'] ?? 0), 0);
    expect(reported).toBeLessThan(malformed / 10);
    expect(replies.some((r) => 'id' in r && typeof r.id === 'bigint')).toBe(true);

    // Forged positions are checked and dropped: the rings come back to the real positions.
    const views = await awaitConvergence(handlers, truth.length, 60_000);
    expect(views.map((v) => v.members)).toEqual(Array(3).fill(truth));

    const run = await runKeyedStream({ publisher, handlers, ring, count: 2_000, window: 1_000, firstSeq: 10_000_000 });
    expect(run.tally.missing).toEqual([]);
    expect(run.tally.duplicates).toBe(0);
    expect(run.misrouted).toEqual([]);
    expect([...handlers, publisher].map((w) => w.alive)).toEqual([true, true, true, true]);
  });
});
