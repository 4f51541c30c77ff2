import { seededRandom } from '../testing/seeded-random';
import { PartitionScheduler } from './partition-scheduler';

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Resolves after `turns` trips through the macrotask queue: an async handler of varying duration, without timers. */
async function busy(turns: number): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

const noErrors = (error: unknown): never => {
  throw error;
};

describe('PartitionScheduler', () => {
  it('runs the tasks of one lane one at a time, in submission order, whatever their durations', async () => {
    const scheduler = new PartitionScheduler(8, 10_000, noErrors);
    const random = seededRandom(1);
    const seen = new Map<number, number[]>();
    const running = new Map<number, number>();
    let overlaps = 0;
    for (let i = 0; i < 600; i++) {
      const lane = i % 6;
      const duration = random.int(4);
      scheduler.submit(lane, async () => {
        running.set(lane, (running.get(lane) ?? 0) + 1);
        if (running.get(lane)! > 1) overlaps++;
        (seen.get(lane) ?? seen.set(lane, []).get(lane)!).push(i);
        await busy(duration);
        running.set(lane, running.get(lane)! - 1);
      });
    }
    await scheduler.idle();

    expect(overlaps).toBe(0);
    for (let lane = 0; lane < 6; lane++) {
      const expected = Array.from({ length: 100 }, (_, j) => j * 6 + lane);
      expect(seen.get(lane)).toEqual(expected);
    }
  });

  it('runs different lanes concurrently, never more than the concurrency limit at once', async () => {
    const scheduler = new PartitionScheduler(4, 10_000, noErrors);
    const random = seededRandom(2);
    let running = 0;
    let maxRunning = 0;
    let done = 0;
    for (let i = 0; i < 400; i++) {
      const duration = 1 + random.int(3);
      scheduler.submit(i % 50, async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await busy(duration);
        running--;
        done++;
      });
    }
    await scheduler.idle();

    expect(done).toBe(400);
    expect(maxRunning).toBe(4);
  });

  it('bounds tasks without a lane by the concurrency limit too', async () => {
    const scheduler = new PartitionScheduler(3, 10_000, noErrors);
    let running = 0;
    let maxRunning = 0;
    for (let i = 0; i < 30; i++) {
      scheduler.submit(undefined, async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await busy(2);
        running--;
      });
    }
    await scheduler.idle();
    expect(maxRunning).toBe(3);
  });

  it('lets a waiting lane run before the next task of a busy lane', async () => {
    const scheduler = new PartitionScheduler(1, 100, noErrors);
    const order: string[] = [];
    const first = deferred();
    const step = (name: string, gate?: Promise<void>) => (): Promise<void> | undefined => {
      order.push(name);
      return gate;
    };
    scheduler.submit(1, step('a1', first.promise));
    scheduler.submit(1, step('a2'));
    scheduler.submit(1, step('a3'));
    scheduler.submit(2, step('b1'));
    first.resolve();
    await scheduler.idle();

    expect(order).toEqual(['a1', 'b1', 'a2', 'a3']);
  });

  it('refuses a task once maxQueued tasks wait, counting running tasks out', async () => {
    const scheduler = new PartitionScheduler(1, 3, noErrors);
    const gate = deferred();
    const ran: number[] = [];
    const accepted: boolean[] = [];
    for (let i = 0; i < 6; i++) {
      accepted.push(
        scheduler.submit(i % 2, () => {
          ran.push(i);
          return gate.promise;
        }),
      );
    }

    expect(accepted).toEqual([true, true, true, true, false, false]);
    expect(scheduler.active).toBe(1);
    expect(scheduler.queued).toBe(3);
    gate.resolve();
    await scheduler.idle();
    expect(ran.sort()).toEqual([0, 1, 2, 3]);
    expect(scheduler.queued).toBe(0);
  });

  it('starts nothing while paused, lets running tasks finish, and gives back what waits, each lane in order', async () => {
    const scheduler = new PartitionScheduler(4, 6, noErrors);
    const idleLanes: number[] = [];
    scheduler.onLaneIdle = (lane) => idleLanes.push(lane);
    const gates = [deferred(), deferred()];
    const ran: string[] = [];
    const task = (name: string) => () => void ran.push(name);
    scheduler.submit(0, () => (ran.push('0a'), gates[0].promise));
    scheduler.submit(1, () => (ran.push('1a'), gates[1].promise));
    scheduler.pause();
    expect(scheduler.isPaused).toBe(true);
    const accepted = ['0b', '2a', '2b', 'x', '1b', '3a', '4a'].map((name) => scheduler.submit(name === 'x' ? undefined : Number(name[0]), task(name)));
    // Bounded while paused too: the seventh waiting task is refused.
    expect(accepted).toEqual([true, true, true, true, true, true, false]);
    gates[0].resolve();
    await busy(2);
    // 0a ended; 0b, next in lane 0, did not start.
    expect(ran).toEqual(['0a', '1a']);
    expect([...scheduler.busyLanes()].sort()).toEqual([0, 1, 2, 3]);

    const taken = scheduler.takeWaiting();
    const names = taken.map((t) => (t.run(), ran.pop()));
    // Each lane's in its order: 2a before 2b.
    expect(names.indexOf('2a')).toBeLessThan(names.indexOf('2b'));
    expect([...names].sort()).toEqual(['0b', '1b', '2a', '2b', '3a', 'x']);
    expect(scheduler.queued).toBe(0);
    // Lane 1 still runs 1a: busy. The others have nothing left.
    expect([...scheduler.busyLanes()]).toEqual([1]);
    expect(idleLanes.sort()).toEqual([0, 2, 3]);

    scheduler.resume();
    expect(scheduler.isPaused).toBe(false);
    expect(scheduler.submit(1, task('1c'))).toBe(true);
    expect(scheduler.submit(5, task('5a'))).toBe(true);
    expect(ran).toEqual(['0a', '1a', '5a']);
    gates[1].resolve();
    await scheduler.idle();
    expect(ran).toEqual(['0a', '1a', '5a', '1c']);
    expect(idleLanes.sort()).toEqual([0, 1, 2, 3]);
  });

  it('resolves idle() at once when nothing runs, and only after the last task otherwise', async () => {
    const scheduler = new PartitionScheduler(2, 10, noErrors);
    await expect(scheduler.idle()).resolves.toBeUndefined();

    const gate = deferred();
    scheduler.submit(1, () => gate.promise);
    scheduler.submit(1, () => undefined);
    let idle = false;
    const waiting = scheduler.idle().then(() => {
      idle = true;
    });
    await busy(3);
    expect(idle).toBe(false);
    expect(scheduler.active + scheduler.queued).toBe(2);

    gate.resolve();
    await waiting;
    expect(idle).toBe(true);
    expect(scheduler.active + scheduler.queued).toBe(0);
  });

  it('reports a task that throws or rejects and carries on with its lane', async () => {
    const errors: unknown[] = [];
    const scheduler = new PartitionScheduler(2, 10, (error) => errors.push(error));
    const ran: string[] = [];
    scheduler.submit(1, () => {
      ran.push('throws');
      throw new Error('sync failure');
    });
    scheduler.submit(1, () => {
      ran.push('rejects');
      return Promise.reject(new Error('async failure'));
    });
    scheduler.submit(1, () => {
      ran.push('after');
    });
    await scheduler.idle();

    expect(ran).toEqual(['throws', 'rejects', 'after']);
    expect(errors.map((e) => (e as Error).message)).toEqual(['sync failure', 'async failure']);
  });

  it('drains a long queue of synchronous tasks without deep recursion', async () => {
    const scheduler = new PartitionScheduler(1, 100_000, noErrors);
    const gate = deferred();
    let count = 0;
    scheduler.submit(7, () => gate.promise);
    for (let i = 0; i < 50_000; i++) {
      scheduler.submit(i % 2 === 0 ? 7 : undefined, () => {
        count++;
      });
    }
    gate.resolve();
    await scheduler.idle();
    expect(count).toBe(50_000);
  });

  it('reports the age of the oldest waiting task when it times its queue, and 0 otherwise', async () => {
    let now = 1000;
    const timed = new PartitionScheduler(1, 100, noErrors, () => now);
    const untimed = new PartitionScheduler(1, 100, noErrors);
    const gate = deferred();
    for (const scheduler of [timed, untimed]) {
      scheduler.submit(1, () => gate.promise);
      expect(scheduler.oldestQueuedAge(now)).toBe(0);
    }
    timed.submit(1, () => undefined); // waits in lane 1, queued at 1000
    now = 1500;
    timed.submit(2, () => undefined); // waits for the concurrency slot, queued at 1500
    untimed.submit(1, () => undefined);
    now = 1800;

    expect(timed.oldestQueuedAge(now)).toBe(800);
    expect(untimed.oldestQueuedAge(now)).toBe(0);
    gate.resolve();
    await timed.idle();
    await untimed.idle();
    expect(timed.oldestQueuedAge(now)).toBe(0);
  });

  it("tells a task object how it ended before its lane's next task starts, and reports what its own callbacks throw", async () => {
    const reported: unknown[] = [];
    const scheduler = new PartitionScheduler(2, 100, (error) => reported.push(error));
    const order: string[] = [];
    const gate = deferred();
    const task = (name: string, run: () => void | Promise<void>) => ({
      run: () => {
        order.push(`run ${name}`);
        return run();
      },
      done: () => order.push(`done ${name}`),
      failed: (error: unknown) => order.push(`failed ${name}: ${String(error)}`),
    });
    scheduler.submit(1, task('a', () => gate.promise));
    const sync = (): never => {
      throw new Error('sync');
    };
    scheduler.submit(1, task('b', sync));
    scheduler.submit(1, task('c', () => Promise.reject(new Error('async'))));
    const throwing = (): never => {
      throw new Error('from done');
    };
    scheduler.submit(1, { run: () => undefined, done: throwing });
    scheduler.submit(1, task('e', () => undefined));
    scheduler.submit(1, { run: () => null, done: (result: unknown) => order.push(`done f: ${String(result)}`) });
    expect(order).toEqual(['run a']);
    gate.resolve();
    await scheduler.idle();
    expect(order).toEqual(['run a', 'done a', 'run b', 'failed b: Error: sync', 'run c', 'failed c: Error: async', 'run e', 'done e', 'done f: null']);
    expect(reported.map(String)).toEqual(['Error: from done']);
  });
});
