import { fromUtf8, readSeq, seq } from '../../test/sequence';
import { createMemoryClique, MemoryClique } from '../testing/clique';
import { ManualClock } from '../testing/manual-clock';
import { waitFor } from '../testing/wait-for';
import { Broker, Delivery } from './broker';
import { ErrorCode, FlowError, TransportError } from './errors';
import { MemoryBus } from './memory-pubsub';
import type { BrokerOptions } from './options';
import type { PubSub } from './pubsub';
import { viewSubject } from './publish-wire';

const CLIQUE = 'clients';

/** What a publisher's connection did on the clique's subjects. */
interface Traffic {
  cliqueSubscriptions: number;
  viewQuestions: number;
}

/**
 * `pubsub` as a NATS server with permissions would have it: a request on
 * `refused` is refused (onRefused, after the call, nothing delivered), as
 * docs/nats-permissions.conf does for a client's view question.
 */
function refusing(pubsub: PubSub, refused: string, traffic: Traffic): PubSub {
  return new Proxy(pubsub, {
    get(target, property, receiver) {
      if (property === 'subscribe') {
        return (subject: string, ...rest: unknown[]) => {
          if (subject === CLIQUE) traffic.cliqueSubscriptions++;
          return (target.subscribe as (...args: unknown[]) => unknown)(subject, ...rest);
        };
      }
      if (property === 'publish') {
        return (subject: string, ...rest: unknown[]) => {
          if (subject === refused) return void traffic.viewQuestions++;
          return (target.publish as (...args: unknown[]) => unknown)(subject, ...rest);
        };
      }
      if (property === 'publishRequest') {
        return (subject: string, data: Uint8Array, onNoResponders: () => void, headers?: never, onRefused?: (error: FlowError) => void) => {
          if (subject !== refused) return target.publishRequest!(subject, data, onNoResponders, headers, onRefused);
          traffic.viewQuestions++;
          queueMicrotask(() => onRefused?.(new TransportError(`refused to publish on "${subject}"`)));
          return () => undefined;
        };
      }
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('publishes the transport refuses (NATS permissions), and a publisher that does not route direct', () => {
  let clique: MemoryClique | undefined;
  /** The publisher a test started, closed after it. */
  let started: Broker | undefined;
  afterEach(async () => {
    await started?.close();
    await clique?.close();
    clique = started = undefined;
  });

  /** 3 brokers handling 'orders' in clique CLIQUE on `clock`, and what they handled by key. */
  async function members(clock: ManualClock, handled: Map<string, number[]>): Promise<MemoryBus> {
    clique = await createMemoryClique({
      size: 3,
      bus: new MemoryBus({ clock }),
      options: { clique: CLIQUE, virtualNodes: 4, ackTimeout: 100, stabilization: { interval: 1_000 }, clock },
      setup: (broker) =>
        void broker.handle('orders', (d: Delivery) => {
          const key = fromUtf8(d.partitionKey);
          handled.set(key, [...(handled.get(key) ?? []), readSeq(d.data)]);
        }),
    });
    await clique.converged({ clock, stepMs: 10 });
    return clique.bus;
  }

  /** Starts `publisher` in clique CLIQUE on a connection whose server refuses requests on `refused`; what it did and reported. */
  async function startPublisher(bus: MemoryBus, clock: ManualClock, refused: string, options: BrokerOptions = {}) {
    const traffic: Traffic = { cliqueSubscriptions: 0, viewQuestions: 0 };
    const errors: FlowError[] = [];
    const publisher = new Broker(refusing(bus.connect('publisher'), refused, traffic), {
      clique: CLIQUE,
      nodeName: 'publisher',
      clock,
      onError: (error) => errors.push(error),
      ...options,
    });
    started = publisher;
    await publisher.start();
    return { publisher, traffic, errors };
  }

  it('stops waiting for the view at the refusal, sends keyed publishes through the queue group, reports once and asks no more', async () => {
    const clock = new ManualClock();
    const handled = new Map<string, number[]>();
    const bus = await members(clock, handled);
    const { publisher, traffic, errors } = await startPublisher(bus, clock, viewSubject(CLIQUE), { ackTimeout: 100, stabilization: { interval: 1_000 } });
    await bus.idle();
    expect(traffic.viewQuestions).toBe(1);

    // No clock time has passed: without the refusal, this publish would wait an ackTimeout per question.
    const published = Promise.all([1, 2, 3].map((n) => publisher.publish('orders', seq(n), { key: `k${n}` })));
    await bus.idle();
    await published;
    expect(clock.now()).toBe(0);
    expect(publisher.counters.viaQueueGroup).toBe(3);
    expect([...handled.keys()].sort()).toEqual(['k1', 'k2', 'k3']);
    expect(errors.map((e) => [e.code, e.message.includes(`"${viewSubject(CLIQUE)}"`), e.message.includes('directRouting: false')])).toEqual([
      [ErrorCode.Transport, true, true],
    ]);

    // Stabilization rounds and catch-up would ask again: a refused question is not asked again.
    await waitFor(() => clock.now() >= 10_000, { bus, clock, stepMs: 100, timeoutMs: 10_100 });
    expect(traffic.viewQuestions).toBe(1);
    expect(errors).toHaveLength(1);
    expect(publisher.snapshot().members).toEqual([]);
  });

  it('fails a request whose publish the transport refused at once, with the refusal, without waiting for its timeout', async () => {
    const clock = new ManualClock();
    const bus = await members(clock, new Map());
    const { publisher } = await startPublisher(bus, clock, 'quotes', { directRouting: false });
    const refused = publisher.request('quotes', seq(1), { key: 'k1', timeout: 60_000 });
    await expect(refused).rejects.toMatchObject({ code: ErrorCode.Transport, message: 'refused to publish on "quotes"' });
    expect(clock.now()).toBe(0);
  });

  it('with directRouting false, watches no ring: no clique subscription, no view question, keyed publishes take the queue group at once', async () => {
    const clock = new ManualClock();
    const handled = new Map<string, number[]>();
    const bus = await members(clock, handled);
    const { publisher, traffic, errors } = await startPublisher(bus, clock, viewSubject(CLIQUE), { directRouting: false });
    await publisher.publish('orders', seq(1), { key: 'k1' });
    await waitFor(() => handled.has('k1'), { bus, clock, stepMs: 10 });
    await waitFor(() => clock.now() >= 5_000, { bus, clock, stepMs: 100, timeoutMs: 5_100 });

    expect(traffic).toEqual({ cliqueSubscriptions: 0, viewQuestions: 0 });
    expect(publisher.counters.viaQueueGroup).toBe(1);
    expect(errors).toEqual([]);
  });
});
