import { ManualClock } from '../testing/manual-clock';
import { ClosedError, FlowError, OverloadedError, TimeoutError } from './errors';
import { PendingTable } from './pending';

interface Outcome<T> {
  error: FlowError | undefined;
  value: T | undefined;
}

/** A settle callback that records every call, so tests can assert "exactly once". */
function recorder<T>(): { calls: Outcome<T>[]; settle: (error: FlowError | undefined, value: T | undefined) => void } {
  const calls: Outcome<T>[] = [];
  return { calls, settle: (error, value) => calls.push({ error, value }) };
}

const timeout = (ms: number) => () => new TimeoutError('forward', ms, 'orders');

/** A table whose entries all take its usual timeout of 50 ms, and the [id, time] of each one that expired. */
function expiringTable(clock: ManualClock) {
  const table = new PendingTable<void>(clock, 'maxInFlightForwards', 10, 50);
  const expired: [number, number][] = [];
  const add = (id: number) =>
    table.add(id, 50, timeout(50), (error) => {
      if (error !== undefined) expired.push([id, clock.now()]);
    });
  return { table, expired, add };
}

describe('PendingTable', () => {
  it('settles an entry with its value exactly once and forgets it', () => {
    const clock = new ManualClock();
    const table = new PendingTable<string>(clock, 'maxInFlightForwards', 10, 100);
    const r = recorder<string>();
    table.add(1, 100, timeout(100), r.settle);
    expect(table.has(1)).toBe(true);

    expect(table.resolve(1, 'ack')).toBe(true);
    expect(table.resolve(1, 'late')).toBe(false);
    expect(table.fail(1, new ClosedError())).toBe(false);
    clock.advance(1000);

    expect(r.calls).toEqual([{ error: undefined, value: 'ack' }]);
    expect(table.size).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('fails an entry with the timeout error once timeoutMs has passed, not before', () => {
    const clock = new ManualClock();
    const table = new PendingTable<void>(clock, 'maxInFlightForwards', 10, 50);
    const r = recorder<void>();
    table.add(7, 50, timeout(50), r.settle);

    clock.advance(49);
    expect(r.calls).toHaveLength(0);
    clock.advance(1);

    expect(r.calls).toHaveLength(1);
    expect(r.calls[0].error).toBeInstanceOf(TimeoutError);
    expect(r.calls[0].error).toMatchObject({ code: 'FLOW_TIMEOUT', timeoutMs: 50, stream: 'orders' });
    expect(table.has(7)).toBe(false);
    expect(table.resolve(7, undefined)).toBe(false);
  });

  it('fails one entry with the given error, which its timeout then leaves alone', () => {
    const clock = new ManualClock();
    const table = new PendingTable<number>(clock, 'maxPendingRequests', 10, 100);
    const a = recorder<number>();
    const b = recorder<number>();
    table.add(1, 100, timeout(100), a.settle);
    table.add(2, 100, timeout(100), b.settle);

    const closed = new ClosedError();
    expect(table.fail(1, closed)).toBe(true);

    expect(a.calls).toEqual([{ error: closed, value: undefined }]);
    expect(b.calls).toHaveLength(0);
    clock.advance(100);
    expect(a.calls).toHaveLength(1);
    expect(b.calls[0].error).toBeInstanceOf(TimeoutError);
  });

  it('fails every pending entry at once with failAll', () => {
    const clock = new ManualClock();
    const table = new PendingTable<number>(clock, 'maxPendingRequests', 10, 100);
    const records = [recorder<number>(), recorder<number>(), recorder<number>()];
    records.forEach((r, i) => table.add(i + 1, 100, timeout(100), r.settle));
    table.resolve(2, 42);

    const closed = new ClosedError();
    table.failAll(closed);
    clock.advance(1000);

    expect(records.map((r) => r.calls)).toEqual([
      [{ error: closed, value: undefined }],
      [{ error: undefined, value: 42 }],
      [{ error: closed, value: undefined }],
    ]);
    expect(table.size).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('fails, lowest id first, the entries whose tag passes the test, and leaves the others pending', () => {
    const table = new PendingTable<string, string>(new ManualClock(), 'maxInFlightForwards', 10, 100);
    const failed: number[] = [];
    for (const [id, owner] of [[7, 'a'], [3, 'b'], [5, 'a'], [2, 'a']] as const) {
      table.add(id, 100, timeout(100), (error) => error !== undefined && failed.push(id), owner);
    }
    table.add(1, 100, timeout(100), () => failed.push(1));
    table.failWhere((owner) => owner === 'a', new ClosedError());
    expect(failed).toEqual([2, 5, 7]);
    expect([1, 3].map((id) => table.has(id))).toEqual([true, true]);
    expect(table.size).toBe(2);
  });

  it('refuses an entry beyond its limit with an OverloadedError naming the limit, before starting a timer', () => {
    const clock = new ManualClock();
    const table = new PendingTable<void>(clock, 'maxPendingRequests', 2, 100);
    table.add(1, 100, timeout(100), () => undefined);
    table.add(2, 250, timeout(250), () => undefined);
    const timers = clock.pending;

    let thrown: unknown;
    try {
      table.add(3, 100, timeout(100), () => undefined);
    } catch (error) {
      thrown = error;
    }

    expect(thrown).toBeInstanceOf(OverloadedError);
    expect(thrown).toMatchObject({ code: 'FLOW_OVERLOADED', limit: 'maxPendingRequests', max: 2 });
    expect((thrown as Error).message).toContain('maxPendingRequests');
    expect(table.size).toBe(2);
    expect(clock.pending).toBe(timers);
  });

  it('accepts entries again once earlier ones settled', () => {
    const clock = new ManualClock();
    const table = new PendingTable<void>(clock, 'maxInFlightForwards', 1, 100);
    table.add(1, 100, timeout(100), () => undefined);
    clock.advance(100);

    expect(() => table.add(2, 100, timeout(100), () => undefined)).not.toThrow();
    expect(table.size).toBe(1);
  });

  it('ignores answers for ids it never registered', () => {
    const table = new PendingTable<void>(new ManualClock(), 'pings', 10, 100);
    expect(table.resolve(99, undefined)).toBe(false);
    expect(table.fail(99, new ClosedError())).toBe(false);
    expect(table.has(99)).toBe(false);
  });

  it('expires entries with the usual timeout one by one, each at its own deadline', () => {
    const clock = new ManualClock();
    const { table, expired, add } = expiringTable(clock);
    for (const id of [1, 2, 3]) {
      add(id);
      clock.advance(10);
    }
    table.resolve(2, undefined);

    clock.advance(100);
    expect(expired).toEqual([
      [1, 50],
      [3, 70],
    ]);
    expect(clock.pending).toBe(0);
  });

  it('expires in the order entries were added, whatever their ids, and an id added again after it settled at its new deadline', () => {
    const clock = new ManualClock();
    const { table, expired, add } = expiringTable(clock);
    add(10);
    clock.advance(10);
    add(30);
    clock.advance(10);
    add(20);
    clock.advance(5);
    // 30 settles behind 10, which is still pending, and comes back with a later deadline.
    table.resolve(30, undefined);
    add(30);

    clock.advance(100);
    expect(expired).toEqual([
      [10, 50],
      [20, 70],
      [30, 75],
    ]);
    expect(clock.pending).toBe(0);
  });

  it('still expires on time when an id is added again while pending (against the contract): the later entry wins', () => {
    const clock = new ManualClock();
    const table = new PendingTable<void>(clock, 'maxInFlightForwards', 10, 50);
    const expired: string[] = [];
    table.add(1, 50, timeout(50), (error) => error && expired.push(`first at ${clock.now()}`));
    clock.advance(10);
    table.add(1, 50, timeout(50), (error) => error && expired.push(`second at ${clock.now()}`));
    clock.advance(100);
    expect(expired).toEqual(['second at 60']);
    expect(clock.pending).toBe(0);
  });

  it('settles in the order entries were added on failAll, whatever their ids', () => {
    const table = new PendingTable<void>(new ManualClock(), 'maxPendingRequests', 10, 100);
    const settled: number[] = [];
    for (const id of [9, 3, 7, 1]) table.add(id, id === 7 ? 500 : 100, timeout(100), () => settled.push(id));
    table.failAll(new ClosedError());
    expect(settled).toEqual([9, 3, 7, 1]);
  });

  it('gives an entry with another timeout a timer of its own', () => {
    const clock = new ManualClock();
    const table = new PendingTable<void>(clock, 'maxPendingRequests', 10, 1000);
    const expired: number[] = [];
    table.add(1, 1000, timeout(1000), (error) => error && expired.push(1));
    table.add(2, 30, timeout(30), (error) => error && expired.push(2));

    clock.advance(30);
    expect(expired).toEqual([2]);
    clock.advance(970);
    expect(expired).toEqual([2, 1]);
  });

  it('resolves drained() once the last entry settles, and at once when nothing is pending', async () => {
    const clock = new ManualClock();
    const table = new PendingTable<void>(clock, 'maxInFlightForwards', 10, 50);
    await expect(table.drained()).resolves.toBeUndefined();

    table.add(1, 50, timeout(50), () => undefined);
    table.add(2, 50, timeout(50), () => undefined);
    let drained = false;
    const waiting = table.drained().then(() => {
      drained = true;
    });
    table.resolve(1, undefined);
    await Promise.resolve();
    expect(drained).toBe(false);

    clock.advance(50);
    await waiting;
    expect(drained).toBe(true);
  });
});
