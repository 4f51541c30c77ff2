/**
 * A stand-in for a Go flow broker in specs: it speaks the clique protocol the
 * way Go flow does (plain JOIN, INFO answers to JOIN and PING, LEAV), with no
 * announcement after any frame and no stabilization of its own. It handles
 * no streams: a FWD is acknowledged on receipt, as Go flow does, and its
 * message recorded in `forwarded`. Enough to be a member that never announces.
 */
import { Broker } from '../src/core/broker';
import { decodeFrame, encodeFrame, FrameType, MsgPayload } from '../src/core/frame';
import { Key, keyFromString } from '../src/core/key';
import type { MemoryBus } from '../src/core/memory-pubsub';
import type { BrokerOptions } from '../src/core/options';
import { PubSub, Subscription } from '../src/core/pubsub';
import { waitFor } from '../src/testing/wait-for';
import { findKey } from './ownership-probes';

export class GoBrokerStandIn {
  /** Every frame type received, in order (for assertions). */
  readonly received: string[] = [];
  /** Messages of the FWDs received, in order. */
  readonly forwarded: MsgPayload[] = [];
  private readonly members = new Map<string, Key>();
  private readonly subscriptions: Subscription[] = [];

  constructor(
    private readonly pubsub: PubSub,
    readonly clique: string,
    readonly key: Key,
  ) {}

  start(): void {
    const onFrame = (_subject: string, data: Uint8Array): void => this.onFrame(data);
    this.subscriptions.push(this.pubsub.subscribe(this.clique, {}, onFrame));
    this.subscriptions.push(this.pubsub.subscribe(`${this.clique}.${this.key}`, {}, onFrame));
    this.pubsub.publish(this.clique, encodeFrame({ type: FrameType.Join, sender: this.key }));
  }

  close(): void {
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
  }

  private neighbours(): Key[] {
    return [this.key, ...this.members.values()];
  }

  private onFrame(data: Uint8Array): void {
    const frame = decodeFrame(data);
    this.received.push(frame.type);
    switch (frame.type) {
      case FrameType.Join:
        if (frame.sender.equals(this.key)) return;
        this.pubsub.publish(`${this.clique}.${frame.sender}`, encodeFrame({ type: FrameType.Info, id: 0, neighbours: this.neighbours() }));
        this.members.set(String(frame.sender), frame.sender);
        return;
      case FrameType.Info:
        for (const key of frame.neighbours) if (!key.equals(this.key)) this.members.set(String(key), key);
        return;
      case FrameType.Ping:
        this.pubsub.publish(`${this.clique}.${frame.sender}`, encodeFrame({ type: FrameType.Info, id: frame.id, neighbours: this.neighbours() }));
        return;
      case FrameType.Leave:
        this.members.delete(String(frame.node));
        return;
      case FrameType.Fwd:
        this.forwarded.push(frame.msg);
        this.pubsub.publish(`${this.clique}.${frame.ackTo}`, encodeFrame({ type: FrameType.Ack, id: frame.id, data: new Uint8Array(0) }));
        return;
      default:
    }
  }
}

/**
 * A started Flow broker 'flow-1' ('go-flow' hash mode, one virtual node, no
 * stabilization, handling 'orders' with a no-op) on bus connection 'flow',
 * and a Go stand-in 'go-1' on connection 'go', once each is on the other's
 * ring; `key` is a partition key the Go broker owns. The caller closes both.
 */
export async function flowBesideGo(
  bus: MemoryBus,
  options: BrokerOptions = {},
): Promise<{ flow: Broker; go: GoBrokerStandIn; key: string }> {
  const flow = new Broker(bus.connect('flow'), {
    nodeName: 'flow-1',
    partitionHash: 'go-flow',
    virtualNodes: 1,
    stabilization: { interval: 0 },
    ...options,
  });
  await flow.handle('orders', () => undefined);
  await flow.start();
  const go = new GoBrokerStandIn(bus.connect('go'), '_global', keyFromString('go-1', 'go-flow'));
  go.start();
  try {
    await waitFor(() => flow.snapshot().members.length === 2, { bus, what: 'the Go broker on the ring' });
    return { flow, go, key: findKey((k) => flow.ownerOf(k)?.equals(go.key) === true) };
  } catch (error) {
    go.close();
    await flow.close();
    throw error;
  }
}
