/**
 * Per-key order through Nest on a real nats-server. Flow orders a key's
 * messages as they arrive at the owner; messages that enter through
 * different brokers may arrive in either order. Here one handler app owns
 * the whole ring and is the only member of the queue group, so arrival order
 * is the order of each publisher's connection: a key's handlers must finish
 * in publish order, one at a time, while different keys run concurrently.
 */
import { Controller, Inject } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { defer, Observable } from 'rxjs';
import { FlowContext, StreamHandler } from 'nestjs-flow';
import { startNatsServer, type NatsServer } from './harness/nats-server';
import { closeApps, startFlowApp, type FlowApp } from './support/nest/flow-app';
import { Recorder } from './support/nest/recorder';
import { awaitRing } from './support/nest/ring-waits';

const JOURNAL = Symbol('JOURNAL');

interface Step {
  readonly seq: number;
  /** setImmediate turns the handler takes; varied so that a later message could overtake an earlier one. */
  readonly turns: number;
}

class Journal {
  readonly finished = new Recorder<{ key: string; seq: number }>();
  readonly running = new Set<string>();
  readonly overlaps: string[] = [];
  maxRunning = 0;

  async run(key: string, step: Step): Promise<void> {
    if (this.running.has(key)) this.overlaps.push(`${key}#${step.seq}`);
    this.running.add(key);
    this.maxRunning = Math.max(this.maxRunning, this.running.size);
    for (let i = 0; i < step.turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    this.running.delete(key);
    this.finished.push({ key, seq: step.seq });
  }
}

@Controller()
class StepsController {
  constructor(@Inject(JOURNAL) private readonly journal: Journal) {}

  /** Returns a Promise: its settlement ends the key's turn. */
  @StreamHandler('steps.promised')
  promised(@Payload() step: Step, @Ctx() context: FlowContext): Promise<void> {
    return this.journal.run(context.getPartitionKey(), step);
  }

  /** Returns a cold Observable: its completion ends the key's turn. */
  @StreamHandler('steps.observed')
  observed(@Payload() step: Step, @Ctx() context: FlowContext): Observable<void> {
    return defer(() => this.journal.run(context.getPartitionKey(), step));
  }
}

describe('Flow apps on a real nats-server: per-key order of async handlers', () => {
  let server: NatsServer;
  const journal = new Journal();
  let owner: FlowApp;
  let publishers: FlowApp[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    owner = await startFlowApp({
      servers: server.url,
      name: 'steps-owner',
      controllers: [StepsController],
      providers: [{ provide: JOURNAL, useValue: journal }],
    });
    await awaitRing([owner], 16);
    publishers = await Promise.all(['steps-publisher-1', 'steps-publisher-2'].map((name) => startFlowApp({ servers: server.url, name })));
  });

  afterAll(async () => {
    await closeApps([owner, ...publishers]);
    await server?.stop();
  });

  it.each([
    ['a Promise', 'steps.promised'],
    ['an Observable', 'steps.observed'],
  ])('finishes the handlers of one key in publish order, one at a time, when they return %s', async (_kind, stream) => {
    const keys = 24;
    const perKey = 25;
    const start = journal.finished.entries.length;
    // Publisher i owns keys i, i + 2, ...: a key's messages all leave through one connection.
    await Promise.all(
      publishers.map(async (publisher, p) => {
        for (let seq = 0; seq < perKey; seq++) {
          for (let k = p; k < keys; k += publishers.length) {
            await publisher.client.publish(stream, { seq, turns: (seq * 7 + k) % 5 }, { key: `${stream}-${k}` });
          }
        }
      }),
    );
    const finished = (await journal.finished.until(start + keys * perKey)).slice(start);

    const byKey = new Map<string, number[]>();
    for (const { key, seq } of finished) byKey.set(key, [...(byKey.get(key) ?? []), seq]);
    expect(byKey.size).toBe(keys);
    const inOrder = Array.from({ length: perKey }, (_, seq) => seq);
    for (const seqs of byKey.values()) expect(seqs).toEqual(inOrder);
    expect(journal.overlaps).toEqual([]);
    expect(journal.maxRunning).toBeGreaterThan(1);
    expect(owner.broker.counters).toMatchObject({ forwarded: 0, dropped: 0, failed: 0 });
  });
});
