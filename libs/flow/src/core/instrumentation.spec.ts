import { seq } from '../../test/sequence';
import { createMemoryClique, MemoryClique } from '../testing/clique';
import { waitFor } from '../testing/wait-for';
import { Broker } from './broker';
import { Delivery } from './delivery';
import { ErrorCode } from './errors';
import { MsgPayload } from './frame';
import { BrokerInstrumentation, HandlerTrace, RequestTrace } from './instrumentation';
import { Key } from './key';
import { MemoryBus } from './memory-pubsub';
import { MessageHeaders } from './pubsub';

/** Records every hook call; hands out headers that name the call, so a spec can follow them. */
class RecordingInstrumentation implements BrokerInstrumentation {
  readonly timesQueue = false;
  readonly calls: string[] = [];

  constructor(private readonly name: string) {}

  publish(stream: string, _key: Uint8Array, size: number): MessageHeaders {
    this.calls.push(`publish ${stream} ${size}`);
    return { hop: `${this.name}:publish` };
  }

  request(stream: string): RequestTrace {
    this.calls.push(`request ${stream}`);
    return { headers: { hop: `${this.name}:request` }, end: (error) => this.calls.push(`request end ${code(error)}`) };
  }

  forward(msg: MsgPayload, _owner: Key): MessageHeaders {
    this.calls.push(`forward ${msg.stream} after ${msg.headers?.hop}`);
    return { hop: `${this.name}:forward` };
  }

  handle(delivery: Delivery, headers: MessageHeaders | undefined): HandlerTrace {
    this.calls.push(`handle ${delivery.stream} after ${headers?.hop}`);
    return {
      run: (handler) => {
        this.calls.push('run');
        return handler();
      },
      replyHeaders: { hop: `${this.name}:reply` },
      end: (error) => this.calls.push(`end ${code(error)}`),
    };
  }
}

function code(error: unknown): string {
  return error === undefined ? 'ok' : String((error as { code?: unknown }).code);
}

describe('broker instrumentation hooks', () => {
  let clique: MemoryClique | undefined;
  afterEach(async () => {
    await clique?.close();
    clique = undefined;
  });

  /** Brokers 0 and 1 handle 'orders' and 'quotes'; broker 2 publishes. */
  async function instrumented(options: { concurrency?: number; maxQueuedMessages?: number } = {}) {
    const hooks = [0, 1, 2].map((i) => new RecordingInstrumentation(`b${i}`));
    const handled: Delivery[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    clique = await createMemoryClique({
      size: 3,
      // The forward hop is taken by publishes through the queue group.
      options: (i) => ({ virtualNodes: 4, stabilization: { interval: 0 }, instrumentation: hooks[i], directRouting: false, ...options }),
      setup: (broker, i) => {
        if (i === 2) return undefined;
        broker.handle('orders', async (delivery) => {
          handled.push(delivery);
          if (options.concurrency === 1) await gate;
        });
        return broker.handleRequest('quotes', (delivery) => delivery.data);
      },
    });
    await clique.converged();
    return { hooks, handled, release, brokers: clique.brokers, bus: clique.bus };
  }

  /** A key owned by broker 1 (broker 0 receives first from the queue group on a fresh bus). */
  function keyOwnedBy(brokers: readonly Broker[], index: number): string {
    const positions = new Set(brokers[index].snapshot().positions.map(String));
    for (let i = 0; i < 1000; i++) if (positions.has(String(brokers[0].ownerOf(`k-${i}`)))) return `k-${i}`;
    throw new Error('no key found');
  }

  it('calls publish, forward and handle in turn, each seeing the headers of the hop before', async () => {
    const { hooks, handled, brokers, bus } = await instrumented();
    await brokers[2].publish('orders', seq(1), { key: keyOwnedBy(brokers, 1) });
    await bus.idle();

    expect(handled).toHaveLength(1);
    expect(hooks[2].calls).toEqual(['publish orders 4']);
    expect(hooks[0].calls).toEqual(['forward orders after b2:publish']);
    expect(hooks[1].calls).toEqual(['handle orders after b0:forward', 'run', 'end ok']);
  });

  it('ends a request trace with the reply, after the handler trace sent its reply headers', async () => {
    const { hooks, brokers, bus } = await instrumented();
    const replies: MessageHeaders[] = [];
    bus.setFault((delivery) => {
      if (delivery.headers?.hop?.endsWith(':reply')) replies.push(delivery.headers);
      return 'deliver';
    });
    await brokers[2].request('quotes', seq(2), { key: keyOwnedBy(brokers, 1) });

    expect(hooks[2].calls).toEqual(['request quotes', 'request end ok']);
    expect(hooks[1].calls).toEqual(['handle quotes after b0:forward', 'run', 'end ok']);
    expect(replies).toEqual([{ hop: 'b1:reply' }]);
  });

  it('ends a request trace with the error the requester sees', async () => {
    const { hooks, brokers } = await instrumented();
    // Nobody subscribes to the stream: the bus says so at once (FLOW_NO_HANDLER), no timeout.
    await expect(brokers[2].request('nobody.handles.this', seq(3), { timeout: 50 })).rejects.toMatchObject({
      code: ErrorCode.NoHandler,
    });
    expect(hooks[2].calls).toEqual(['request nobody.handles.this', `request end ${ErrorCode.NoHandler}`]);
  });

  it('ends the handler trace of a message dropped for overload without running it', async () => {
    const { hooks, handled, release, brokers, bus } = await instrumented({ concurrency: 1, maxQueuedMessages: 1 });
    const key = keyOwnedBy(brokers, 0);
    for (let i = 0; i < 3; i++) await brokers[2].publish('orders', seq(i), { key });
    await bus.idle();
    release();
    await waitFor(() => hooks[0].calls.filter((c) => c.startsWith('end')).length === 3, { bus });

    expect(handled).toHaveLength(2);
    expect(hooks[0].calls.filter((c) => c.startsWith('end'))).toEqual(['end FLOW_OVERLOADED', 'end ok', 'end ok']);
    expect(hooks[0].calls.filter((c) => c === 'run')).toHaveLength(2);
  });

  it('refuses an instrumentation without the hook methods, naming the option', () => {
    expect(() => new Broker(new MemoryBus().connect(), { instrumentation: {} as never })).toThrow(/instrumentation/);
  });
});
