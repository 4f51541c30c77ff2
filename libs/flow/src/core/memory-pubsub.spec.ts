import { ManualClock } from '../testing/manual-clock';
import { ClosedError } from './errors';
import { BusDelivery, MemoryBus, MemoryPubSub } from './memory-pubsub';
import type { PubSubStatus, Subscription } from './pubsub';

const utf8 = new TextEncoder();
const bytes = (s: string): Uint8Array => utf8.encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** A 4-byte big-endian sequence number, and back. */
const seq = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
};
const readSeq = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0);

describe('MemoryBus and MemoryPubSub', () => {
  it('gives each message of a queue group to exactly one member, in turn', async () => {
    const bus = new MemoryBus();
    const publisher = bus.connect();
    const received = [new Array<number>(), new Array<number>(), new Array<number>()];
    received.forEach((into, i) =>
      bus.connect(`member-${i}`).subscribe('orders', { queue: 'workers' }, (_s, d) => into.push(readSeq(d))),
    );
    for (let i = 0; i < 3000; i++) publisher.publish('orders', seq(i));
    await bus.idle();

    const all = received.flat().sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    expect(received.map((r) => r.length)).toEqual([1000, 1000, 1000]);
    expect(bus.stats).toMatchObject({ published: 3000, delivered: 3000, dropped: 0 });
  });

  it('refuses a message above its maxPayload, headers counted as NATS counts them, and says what it takes', async () => {
    const bus = new MemoryBus({ maxPayload: 100 });
    const a = bus.connect();
    const got: number[] = [];
    a.subscribe('s', {}, (_subject, data) => got.push(data.length));
    expect(a.maxPayload()).toBe(100);
    expect(new MemoryBus().connect().maxPayload()).toBeUndefined();
    a.publish('s', new Uint8Array(100));
    expect(() => a.publish('s', new Uint8Array(101))).toThrow(expect.objectContaining({ name: 'TransportError', message: expect.stringContaining('101 bytes exceed the max payload of 100') }));
    // "NATS/1.0\r\n", "k: v\r\n" and "\r\n": 12 + 6 bytes of headers.
    a.publish('s', new Uint8Array(82), { k: 'v' });
    expect(() => a.publish('s', new Uint8Array(83), { k: 'v' })).toThrow(expect.objectContaining({ name: 'TransportError' }));
    await bus.idle();
    expect(got).toEqual([100, 82]);
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => new MemoryBus({ maxPayload: bad })).toThrow(expect.objectContaining({ name: 'InvalidOptionError', message: expect.stringContaining('maxPayload') }));
    }
  });

  it('broadcasts to every plain subscriber', async () => {
    const bus = new MemoryBus();
    const counts = [0, 0, 0];
    counts.forEach((_, i) => bus.connect().subscribe('news', {}, () => counts[i]++));
    const publisher = bus.connect();
    for (let i = 0; i < 100; i++) publisher.publish('news', seq(i));
    await bus.idle();
    expect(counts).toEqual([100, 100, 100]);
  });

  it('delivers once per queue group plus once per plain subscriber', async () => {
    const bus = new MemoryBus();
    const got = { a1: 0, a2: 0, b1: 0, b2: 0, plain: 0, otherSubject: 0 };
    const c = bus.connect();
    c.subscribe('s', { queue: 'a' }, () => got.a1++);
    c.subscribe('s', { queue: 'a' }, () => got.a2++);
    c.subscribe('s', { queue: 'b' }, () => got.b1++);
    c.subscribe('s', { queue: 'b' }, () => got.b2++);
    c.subscribe('s', {}, () => got.plain++);
    c.subscribe('s.more', {}, () => got.otherSubject++);
    for (let i = 0; i < 10; i++) c.publish('s', seq(i));
    await bus.idle();
    expect(got).toEqual({ a1: 5, a2: 5, b1: 5, b2: 5, plain: 10, otherSubject: 0 });
  });

  it('delivers asynchronously, never inside publish', async () => {
    const bus = new MemoryBus();
    const c = bus.connect();
    let received = 0;
    c.subscribe('s', {}, () => received++);
    c.publish('s', bytes('x'));
    expect(received).toBe(0);
    await bus.idle();
    expect(received).toBe(1);
  });

  it('runs an afterInput task once after the drain that scheduled it and its microtasks, and idle() waits for it', async () => {
    const bus = new MemoryBus();
    const c = bus.connect();
    const seen: string[] = [];
    c.subscribe('s', {}, (_subject, data) => {
      const name = text(data);
      seen.push(name);
      void Promise.resolve().then(() => seen.push(`${name} microtask`));
      if (name !== 'a') return;
      c.afterInput(() => {
        seen.push('task');
        c.publish('s', bytes('c'));
      });
    });
    c.publish('s', bytes('a'));
    c.publish('s', bytes('b'));
    await bus.idle();
    // The task ran after both deliveries of its drain and their microtasks; what it published was delivered before idle.
    expect(seen).toEqual(['a', 'b', 'a microtask', 'b microtask', 'task', 'c', 'c microtask']);
  });

  it('keeps the order of each publisher on each subject', async () => {
    const bus = new MemoryBus();
    const seen = new Map<string, number[]>();
    const consumer = bus.connect();
    for (const subject of ['x', 'y']) {
      consumer.subscribe(subject, {}, (s, d) => {
        const n = readSeq(d);
        const stream = `${s} from publisher ${n >>> 16}`;
        const sequence = seen.get(stream) ?? [];
        sequence.push(n & 0xffff);
        seen.set(stream, sequence);
      });
    }
    const publishers = [bus.connect(), bus.connect()];
    for (let i = 0; i < 2000; i++) {
      const p = i % 2;
      publishers[p].publish(i % 3 === 0 ? 'x' : 'y', seq((p << 16) | i));
    }
    await bus.idle();
    expect(seen.size).toBe(4);
    for (const sequence of seen.values()) expect(sequence).toEqual([...sequence].sort((a, b) => a - b));
  });

  it('stops delivering to a subscription once unsubscribed, even within one drain', async () => {
    const bus = new MemoryBus();
    const c = bus.connect();
    let first = 0;
    let second = 0;
    let secondSubscription: Subscription | undefined;
    c.subscribe('s', {}, () => {
      first++;
      secondSubscription?.unsubscribe();
    });
    secondSubscription = c.subscribe('s', {}, () => second++);
    for (let i = 0; i < 10; i++) c.publish('s', seq(i));
    await bus.idle();
    expect(first).toBe(10);
    expect(second).toBe(0);
    expect(() => secondSubscription?.unsubscribe()).not.toThrow();
  });

  it('moves queue-group messages to the remaining members after an unsubscribe', async () => {
    const bus = new MemoryBus();
    const c = bus.connect();
    let a = 0;
    let b = 0;
    const subA = c.subscribe('s', { queue: 'q' }, () => a++);
    c.subscribe('s', { queue: 'q' }, () => b++);
    subA.unsubscribe();
    for (let i = 0; i < 10; i++) c.publish('s', seq(i));
    await bus.idle();
    expect([a, b]).toEqual([0, 10]);
  });

  it('keeps delivering to others when a handler throws, and reports the error', async () => {
    const errors: [unknown, BusDelivery][] = [];
    const bus = new MemoryBus({ onHandlerError: (error, delivery) => errors.push([error, delivery]) });
    const bad = bus.connect('bad');
    const good = bus.connect('good');
    let received = 0;
    bad.subscribe('s', {}, () => {
      throw new Error('boom');
    });
    good.subscribe('s', {}, () => received++);
    good.publish('s', bytes('1'));
    good.publish('s', bytes('2'));
    await bus.idle();
    expect(received).toBe(2);
    expect(bus.stats.handlerErrors).toBe(2);
    expect(errors).toHaveLength(2);
    expect(errors[0][0]).toEqual(new Error('boom'));
    expect(errors[0][1]).toMatchObject({ subject: 's', from: 'good', to: 'bad' });
  });

  it('lets the fault hook drop deliveries to one connection', async () => {
    const bus = new MemoryBus();
    const seen: BusDelivery[] = [];
    bus.setFault((d) => {
      seen.push(d);
      return d.to === 'b' ? 'drop' : 'deliver';
    });
    const a = bus.connect('a');
    const b = bus.connect('b');
    let toA = 0;
    let toB = 0;
    a.subscribe('s', { queue: 'g' }, () => toA++);
    b.subscribe('s', {}, () => toB++);
    a.publish('s', bytes('hello'));
    await bus.idle();
    expect([toA, toB]).toEqual([1, 0]);
    expect(bus.stats.dropped).toBe(1);
    expect(seen).toEqual([
      { subject: 's', data: bytes('hello'), from: 'a', to: 'b', queue: undefined },
      { subject: 's', data: bytes('hello'), from: 'a', to: 'a', queue: 'g' },
    ]);

    bus.setFault(undefined);
    a.publish('s', bytes('again'));
    await bus.idle();
    expect([toA, toB]).toEqual([2, 1]);
  });

  /** Publishes 'first' then 'second' on `bus`, with the delivery of 'first' delayed 20 ms; the order they arrive in. */
  function firstDelayed(bus: MemoryBus): { connection: MemoryPubSub; order: string[] } {
    bus.setFault((d) => (text(d.data) === 'first' ? { delayMs: 20 } : 'deliver'));
    const connection = bus.connect();
    const order: string[] = [];
    connection.subscribe('s', {}, (_s, d) => order.push(text(d)));
    connection.publish('s', bytes('first'));
    connection.publish('s', bytes('second'));
    return { connection, order };
  }

  it('lets the fault hook delay a delivery, which may then arrive out of order', async () => {
    const bus = new MemoryBus();
    const { connection, order } = firstDelayed(bus);
    await connection.flush();
    expect(order).toEqual(['second']);
    await bus.idle();
    expect(order).toEqual(['second', 'first']);
  });

  it('delays on the clock it was given: a step of a manual clock delivers, and idle() does not wait for it', async () => {
    const clock = new ManualClock();
    const bus = new MemoryBus({ clock });
    const { order } = firstDelayed(bus);
    await bus.idle();
    expect(order).toEqual(['second']);
    clock.advance(19);
    expect(order).toEqual(['second']);
    clock.advance(1);
    expect(order).toEqual(['second', 'first']);
    expect(() => new MemoryBus({ clock: Date as never })).toThrow(expect.objectContaining({ option: 'clock' }));
  });

  it('skips a delayed delivery whose subscription ended meanwhile', async () => {
    const bus = new MemoryBus();
    bus.setFault(() => ({ delayMs: 10 }));
    const c = bus.connect();
    let received = 0;
    const sub = c.subscribe('s', {}, () => received++);
    c.publish('s', bytes('x'));
    await c.flush();
    sub.unsubscribe();
    await bus.idle();
    expect(received).toBe(0);
  });

  it('resolves flush once the messages queued so far have been delivered', async () => {
    const bus = new MemoryBus();
    const c = bus.connect();
    let received = 0;
    c.subscribe('s', {}, () => received++);
    await c.flush();
    for (let i = 0; i < 5000; i++) c.publish('s', seq(i));
    await c.flush();
    expect(received).toBe(5000);
  });

  it('lets timers run between batches of a long burst', async () => {
    const bus = new MemoryBus();
    const c = bus.connect();
    let received = 0;
    c.subscribe('s', {}, () => received++);
    for (let i = 0; i < 50_000; i++) c.publish('s', seq(i));
    const atTimer = new Promise<number>((resolve) => setTimeout(() => resolve(received), 0));
    await bus.idle();
    expect(await atTimer).toBeLessThan(50_000);
    expect(received).toBe(50_000);
  });

  it('makes a killed connection deaf and mute without telling anyone', async () => {
    const bus = new MemoryBus();
    const victim = bus.connect('victim');
    const survivor = bus.connect('survivor');
    const statuses: PubSubStatus[] = [];
    victim.onStatus((s) => statuses.push(s));
    let toVictim = 0;
    let toSurvivor = 0;
    let fromVictim = 0;
    victim.subscribe('work', { queue: 'q' }, () => toVictim++);
    survivor.subscribe('work', { queue: 'q' }, () => toSurvivor++);
    survivor.subscribe('victim.out', {}, () => fromVictim++);

    victim.kill();
    expect(() => victim.publish('victim.out', bytes('x'))).not.toThrow();
    victim.subscribe('work', {}, () => toVictim++);
    for (let i = 0; i < 10; i++) survivor.publish('work', seq(i));
    await bus.idle();
    expect({ toVictim, toSurvivor, fromVictim }).toEqual({ toVictim: 0, toSurvivor: 10, fromVictim: 0 });
    expect(bus.stats.dropped).toBe(1);
    expect(statuses).toEqual([]);

    await victim.close();
    expect(statuses).toEqual(['closed']);
  });

  it('simulates an outage: reports disconnected and reconnecting, holds publishes, sends them in order on reconnect', async () => {
    const bus = new MemoryBus();
    const client = bus.connect('client');
    const other = bus.connect('other');
    const statuses: PubSubStatus[] = [];
    client.onStatus((s) => statuses.push(s));
    const got: number[] = [];
    other.subscribe('out', {}, (_s, d) => got.push(readSeq(d)));

    client.disconnect();
    for (let i = 0; i < 3; i++) client.publish('out', seq(i));
    await bus.idle();
    expect(got).toEqual([]);
    expect(statuses).toEqual(['disconnected', 'reconnecting']);

    client.reconnect();
    client.publish('out', seq(3));
    await bus.idle();
    expect(got).toEqual([0, 1, 2, 3]);
    expect(statuses).toEqual(['disconnected', 'reconnecting', 'reconnected']);
  });

  it('tells a request publisher, after the call, when nobody subscribes to the subject', async () => {
    const bus = new MemoryBus();
    const client = bus.connect();
    const server = bus.connect();
    server.subscribe('served', { queue: 'q' }, () => undefined);
    let noResponders = 0;
    client.publishRequest('nobody', bytes('x'), () => noResponders++);
    expect(noResponders).toBe(0);
    client.publishRequest('served', bytes('x'), () => noResponders++);
    const stop = client.publishRequest('nobody', bytes('y'), () => noResponders++);
    stop();
    // bus.idle() covers the no-responders callbacks: a manual-clock test sees them before its next step.
    await bus.idle();
    expect(noResponders).toBe(1);
  });

  it('decides no-responders on delivery, as the NATS server does: a subscriber that comes or goes before then counts', async () => {
    const bus = new MemoryBus();
    const client = bus.connect();
    const server = bus.connect();
    const leaving = server.subscribe('leaving', {}, () => undefined);
    const got: string[] = [];
    const noResponders: string[] = [];
    client.publishRequest('arriving', bytes('a'), () => noResponders.push('arriving'));
    client.publishRequest('leaving', bytes('l'), () => noResponders.push('leaving'));
    server.subscribe('arriving', {}, (subject) => got.push(subject));
    leaving.unsubscribe();
    // A delivery the network loses still had a subscriber: no answer, as on NATS.
    bus.setFault((delivery) => (delivery.subject === 'lossy' ? 'drop' : 'deliver'));
    server.subscribe('lossy', {}, (subject) => got.push(subject));
    client.publishRequest('lossy', bytes('x'), () => noResponders.push('lossy'));
    await bus.idle();
    expect(got).toEqual(['arriving']);
    expect(noResponders).toEqual(['leaving']);
  });

  it('refuses to publish after close, emits closed once and ends its subscriptions', async () => {
    const bus = new MemoryBus();
    const c = bus.connect();
    const other = bus.connect();
    const statuses: PubSubStatus[] = [];
    c.onStatus((s) => statuses.push(s));
    const removed: PubSubStatus[] = [];
    const off = c.onStatus((s) => removed.push(s));
    off();
    let received = 0;
    c.subscribe('s', {}, () => received++);

    await c.close();
    await c.close();
    expect(statuses).toEqual(['closed']);
    expect(removed).toEqual([]);
    expect(() => c.publish('s', bytes('x'))).toThrow(ClosedError);
    expect(() => c.subscribe('s', {}, () => undefined)).toThrow(ClosedError);
    await expect(c.flush()).rejects.toThrow(ClosedError);
    other.publish('s', bytes('x'));
    await bus.idle();
    expect(received).toBe(0);
  });

  it('delivers messages queued before close', async () => {
    const bus = new MemoryBus();
    const sender = bus.connect();
    let received = 0;
    bus.connect().subscribe('s', {}, () => received++);
    sender.publish('s', bytes('x'));
    await sender.close();
    await bus.idle();
    expect(received).toBe(1);
  });

  it('keeps two buses apart', async () => {
    const one = new MemoryBus();
    const two = new MemoryBus();
    let onOne = 0;
    let onTwo = 0;
    one.connect().subscribe('s', {}, () => onOne++);
    two.connect().subscribe('s', {}, () => onTwo++);
    one.connect().publish('s', bytes('x'));
    await Promise.all([one.idle(), two.idle()]);
    expect([onOne, onTwo]).toEqual([1, 0]);
    expect(two.stats.published).toBe(0);
  });

  it('names connections in order unless told otherwise', () => {
    const bus = new MemoryBus();
    expect([bus.connect().name, bus.connect('broker-a').name, bus.connect().name]).toEqual([
      'conn-1',
      'broker-a',
      'conn-3',
    ]);
    expect(() => bus.connect('')).toThrow(/name/);
  });

  it('carries headers to every receiver and leaves messages without headers without them', async () => {
    const bus = new MemoryBus();
    const seen: { to: string; headers: unknown }[] = [];
    bus.connect('plain').subscribe('orders', {}, (_s, _d, headers) => seen.push({ to: 'plain', headers }));
    bus.connect('member').subscribe('orders', { queue: 'q' }, (_s, _d, headers) => seen.push({ to: 'member', headers }));
    const faulted: BusDelivery[] = [];
    bus.setFault((delivery) => {
      faulted.push(delivery);
      return 'deliver';
    });
    const publisher = bus.connect();
    publisher.publish('orders', seq(1), { traceparent: 'tp-1' });
    publisher.publish('orders', seq(2));
    publisher.publish('orders', seq(3), { traceparent: 'tp-3', tracestate: 'a=b' });
    await bus.idle();

    expect(seen).toEqual([
      { to: 'plain', headers: { traceparent: 'tp-1' } },
      { to: 'member', headers: { traceparent: 'tp-1' } },
      { to: 'plain', headers: undefined },
      { to: 'member', headers: undefined },
      { to: 'plain', headers: { traceparent: 'tp-3', tracestate: 'a=b' } },
      { to: 'member', headers: { traceparent: 'tp-3', tracestate: 'a=b' } },
    ]);
    expect(faulted.map((d) => d.headers?.traceparent)).toEqual(['tp-1', 'tp-1', undefined, undefined, 'tp-3', 'tp-3']);
  });

  it('keeps headers with their message across a long burst that spans drain batches', async () => {
    const bus = new MemoryBus();
    const mismatched: number[] = [];
    let received = 0;
    bus.connect().subscribe('burst', {}, (_s, data, headers) => {
      received++;
      const n = readSeq(data);
      const expected = n % 7 === 0 ? `h-${n}` : undefined;
      if (headers?.n !== expected) mismatched.push(n);
    });
    const publisher = bus.connect();
    for (let i = 0; i < 5000; i++) publisher.publish('burst', seq(i), i % 7 === 0 ? { n: `h-${i}` } : undefined);
    await bus.idle();

    expect(received).toBe(5000);
    expect(mismatched).toEqual([]);
  });
});
