import { Broker } from './broker';
import { decodeFrame, FrameType } from './frame';
import { MemoryBus } from './memory-pubsub';
import { readNotice } from './publish-wire';
import type { MessageHeaders, PubSub, PubSubHandler, StatusListener, SubscribeOptions } from './pubsub';
import { waitFor } from '../testing/wait-for';

/** A bus connection whose end of turn the test decides: afterInput tasks wait for `endTurn()`. */
class TurnPubSub implements PubSub {
  private readonly tasks: (() => void)[] = [];

  constructor(private readonly inner: PubSub) {}

  get waiting(): number {
    return this.tasks.length;
  }

  endTurn(): void {
    for (const task of this.tasks.splice(0)) task();
  }

  afterInput(task: () => void): void {
    this.tasks.push(task);
  }

  publish(subject: string, data: Uint8Array, headers?: MessageHeaders): void {
    this.inner.publish(subject, data, headers);
  }

  publishRequest(subject: string, data: Uint8Array, onNoResponders: () => void, headers?: MessageHeaders): () => void {
    return this.inner.publishRequest!(subject, data, onNoResponders, headers);
  }

  hasSubscribers(subject: string, probe: Uint8Array, timeoutMs: number): Promise<boolean | undefined> {
    return this.inner.hasSubscribers!(subject, probe, timeoutMs);
  }

  subscribe(subject: string, options: SubscribeOptions, handler: PubSubHandler) {
    return this.inner.subscribe(subject, options, handler);
  }

  flush(): Promise<void> {
    return this.inner.flush();
  }

  onStatus(listener: StatusListener): () => void {
    return this.inner.onStatus(listener);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

interface Notice {
  accepted: number;
  handled: number;
}

describe('owner notices at the end of the input turn', () => {
  const brokers: Broker[] = [];
  afterEach(async () => {
    for (const broker of brokers.splice(0)) await broker.close();
  });

  async function ownerAndPublisher(handler: () => Promise<void>) {
    const bus = new MemoryBus();
    const turn = new TurnPubSub(bus.connect('owner'));
    const options = { virtualNodes: 4, stabilization: { interval: 0 } };
    const owner = new Broker(turn, { ...options, nodeName: 'owner' });
    await owner.handle('orders', handler);
    await owner.start();
    const publisher = new Broker(bus.connect('publisher'), { ...options, nodeName: 'publisher' });
    await publisher.start();
    brokers.push(publisher, owner);
    await waitFor(() => publisher.snapshot().members.length === 4, { bus, what: 'the publisher to learn the ring' });
    const notices: Notice[] = [];
    bus.setFault((delivery) => {
      if (delivery.to === 'publisher' && decodeFrame(delivery.data).type === FrameType.Ack) {
        const notice = readNotice(delivery.data);
        if (notice !== undefined) notices.push({ accepted: notice.accepted.length, handled: notice.handled.length });
      }
      return 'deliver';
    });
    return { bus, turn, owner, publisher, notices };
  }

  it('answers handlers that finished within the turn with one notice, "handled" only', async () => {
    let finished = 0;
    const { bus, turn, publisher, notices } = await ownerAndPublisher(async () => {
      await Promise.resolve();
      finished++;
    });
    const published = ['a', 'b', 'c'].map((key) => publisher.publish('orders', new Uint8Array(1), { key }));
    await waitFor(() => finished === 3, { bus, what: 'the three handlers to finish' });
    // Every handler has finished; nothing is answered before the turn ends.
    expect(notices).toEqual([]);
    expect(turn.waiting).toBe(1);
    turn.endTurn();
    await bus.idle();
    await Promise.all(published);
    expect(notices).toEqual([{ accepted: 0, handled: 3 }]);
  });

  it('sends the notices that wait for the end of the turn when the broker closes before it', async () => {
    let finished = 0;
    const { bus, turn, owner, publisher, notices } = await ownerAndPublisher(async () => {
      finished++;
    });
    const published = ['a', 'b'].map((key) => publisher.publish('orders', new Uint8Array(1), { key }));
    await waitFor(() => finished === 2, { bus, what: 'both handlers to finish' });
    expect(turn.waiting).toBe(1);
    await owner.shutdown();
    await bus.idle();
    expect(notices).toEqual([{ accepted: 0, handled: 2 }]);
    await Promise.all(published);
  });

  it('still answers "accepted" at the end of the turn for a handler that is running, and "handled" later', async () => {
    let finish: () => void = () => {};
    const running = new Promise<void>((resolve) => (finish = resolve));
    const { bus, turn, publisher, notices } = await ownerAndPublisher(() => running);
    const published = publisher.publish('orders', new Uint8Array(1), { key: 'a' });
    await bus.idle();
    turn.endTurn();
    await bus.idle();
    await published;
    expect(notices).toEqual([{ accepted: 1, handled: 0 }]);
    finish();
    await waitFor(() => turn.waiting === 1, { bus, what: 'the handled notice to wait for the turn' });
    turn.endTurn();
    await bus.idle();
    expect(notices).toEqual([
      { accepted: 1, handled: 0 },
      { accepted: 0, handled: 1 },
    ]);
  });
});
