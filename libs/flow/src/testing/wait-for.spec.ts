import { MemoryBus } from '../core/memory-pubsub';
import { ManualClock } from './manual-clock';
import { waitFor } from './wait-for';

describe('waitFor', () => {
  it('resolves once the bus has delivered what the predicate waits for', async () => {
    const bus = new MemoryBus();
    let received = 0;
    bus.connect().subscribe('s', {}, () => received++);
    const publisher = bus.connect();
    for (let i = 0; i < 3000; i++) publisher.publish('s', new Uint8Array(1));
    await waitFor(() => received === 3000, { bus });
    expect(received).toBe(3000);
  });

  it('advances a manual clock step by step until the predicate holds', async () => {
    const clock = new ManualClock();
    let fired = false;
    clock.setTimeout(() => (fired = true), 95);
    await waitFor(() => fired, { clock, stepMs: 10 });
    expect(clock.now()).toBe(100);
  });

  it('rejects with FLOW_TIMEOUT naming what it waited for', async () => {
    const clock = new ManualClock();
    await expect(waitFor(() => false, { clock, stepMs: 10, timeoutMs: 50, what: 'the impossible' })).rejects.toMatchObject({
      code: 'FLOW_TIMEOUT',
      message: expect.stringContaining('the impossible'),
    });
    expect(clock.now()).toBe(50);
  });

  it('gives up after timeoutMs of real time without a clock', async () => {
    const started = Date.now();
    await expect(waitFor(() => false, { timeoutMs: 20 })).rejects.toMatchObject({ code: 'FLOW_TIMEOUT' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(20);
  });
});
