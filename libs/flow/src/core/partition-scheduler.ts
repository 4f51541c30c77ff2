import { Fifo } from './fifo';
import type { Key } from './key';
import { IdTable } from './id-table';

/**
 * The lane of a partition key: 30 bits of its hash, so lane ids stay small
 * integers (fast Map keys). Two keys that share one only share a lane: less
 * concurrency, never reordering. The handoff protocol lists these lanes on the
 * wire (handoff-wire.ts), so brokers must agree on them.
 */
export function partitionLane(partition: Key): number {
  return (partition.lo ^ partition.hi) & 0x3fffffff;
}

/**
 * A unit of work. A promise that `run` returns holds the task's turn until it
 * settles. One object per task, told how it ended, so that an asynchronous
 * task costs the scheduler's one reaction and no reaction of its own.
 */
export interface Task {
  /** Its result, or a promise of it. */
  run(): unknown;
  /** Told what `run` returned, or what its promise resolved to; before the lane's next task starts. */
  done?(result: unknown): void;
  /** Told what `run` threw or its promise rejected with; without it, the scheduler's onTaskError is. */
  failed?(error: unknown): void;
}

/**
 * A busy lane's waiting tasks while it has none: shared by every scheduler and
 * frozen (a lane's first waiting task gets an array of its own), so that an
 * asynchronous task alone in its lane, the usual case, allocates no array.
 */
const NONE_WAITING = Object.freeze([]) as readonly Ready[] as Ready[];

/** A waiting task; the same object moves from its lane to the ready queue. */
interface Ready {
  readonly lane: number | undefined;
  readonly task: Task;
  /** When it was queued (clock ms), or 0 when the scheduler does not time its queue. */
  readonly at: number;
}

/**
 * Runs tasks with per-lane order and a global concurrency limit.
 *
 * Guarantees:
 * - Tasks of one lane (a partition key, or a synchronous slot) run one at a
 *   time, in submission order; a task's turn ends when it returns or, for a
 *   promise, when the promise settles.
 * - Tasks without a lane are unordered.
 * - At most `concurrency` tasks run at once. A lane that finishes a task
 *   goes to the back of the ready queue, so a busy key cannot starve others.
 * - At most `maxQueued` tasks wait (running ones excluded); `submit` returns
 *   false beyond that and the caller decides what overload means.
 */
export class PartitionScheduler {
  /** Lanes with a running task; the array holds that lane's waiting tasks. */
  private readonly lanes = new IdTable<Ready[], number>();
  private readonly ready = new Fifo<Ready>();
  private running = 0;
  private waiting = 0;
  private pumping = false;
  /** While true nothing starts (see pause). */
  private paused = false;
  private idleWaiters: (() => void)[] = [];
  /** Told when a lane that had work queued or running has none any more (handoff.ts watches draining lanes). */
  onLaneIdle: ((lane: number) => void) | undefined;

  constructor(
    private readonly concurrency: number,
    private readonly maxQueued: number,
    /** Receives what a task without `failed` threw or rejected with, and what a task's done or failed threw. */
    private readonly onTaskError: (error: unknown) => void,
    /** When given, each queued task is stamped with its time, for oldestQueuedAge (metrics). */
    private readonly now?: () => number,
  ) {}

  /** Tasks running now. */
  get active(): number {
    return this.running;
  }

  /** Tasks accepted and not yet started. */
  get queued(): number {
    return this.waiting;
  }

  /** True between pause() and resume(). */
  get isPaused(): boolean {
    return this.paused;
  }

  /**
   * Starts nothing until resume(): submitted tasks wait in their lanes (still
   * bounded by `maxQueued`), and running ones finish.
   */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.pump();
  }

  /**
   * Removes every waiting task and returns them, each lane's in its order
   * (lanes one after another). A lane left with nothing running is idle
   * (onLaneIdle); one whose task runs stays busy until it ends.
   */
  takeWaiting(): Task[] {
    const taken: Task[] = [];
    const notRunning = new Set<number>();
    for (let next = this.ready.shift(); next !== undefined; next = this.ready.shift()) {
      taken.push(next.task);
      if (next.lane === undefined) continue;
      notRunning.add(next.lane);
      for (const behind of this.lanes.get(next.lane) ?? []) taken.push(behind.task);
    }
    this.lanes.forEach((waiting, lane) => {
      if (notRunning.has(lane)) return;
      for (const behind of waiting) taken.push(behind.task);
      if (waiting.length > 0) this.lanes.set(lane, NONE_WAITING);
    });
    this.waiting = 0;
    for (const lane of notRunning) {
      this.lanes.delete(lane);
      this.onLaneIdle?.(lane);
    }
    this.settleIdle();
    return taken;
  }

  /** Queues `task` (a function: a task that is only run) in `lane`; false when `maxQueued` tasks wait already. */
  submit(lane: number | undefined, work: Task | (() => unknown)): boolean {
    const task = typeof work === 'function' ? { run: work } : work;
    if (lane !== undefined) {
      const waitingInLane = this.lanes.get(lane);
      if (waitingInLane !== undefined) {
        if (this.waiting >= this.maxQueued) return false;
        const entry: Ready = { lane, task, at: this.now?.() ?? 0 };
        if (waitingInLane === NONE_WAITING) this.lanes.set(lane, [entry]);
        else waitingInLane.push(entry);
        this.waiting++;
        return true;
      }
    }
    if (this.running >= this.concurrency || this.paused) {
      if (this.waiting >= this.maxQueued) return false;
      if (lane !== undefined) this.lanes.set(lane, NONE_WAITING);
      this.ready.push({ lane, task, at: this.now?.() ?? 0 });
      this.waiting++;
      return true;
    }
    // The lane is registered only if the task turns out asynchronous: a
    // synchronous task cannot be overtaken, and most handlers are synchronous.
    this.start(lane, task);
    return true;
  }

  /**
   * How long the oldest waiting task has waited, ms, at `now`; 0 when none
   * waits or tasks are not timed. Scans the waiting tasks: for metrics
   * collection, not the hot path.
   */
  oldestQueuedAge(now: number): number {
    if (this.now === undefined || this.waiting === 0) return 0;
    let oldest = now;
    this.lanes.forEach((waiting) => {
      if (waiting.length > 0 && waiting[0].at < oldest) oldest = waiting[0].at;
    });
    this.ready.forEach((entry) => {
      if (entry.at < oldest) oldest = entry.at;
    });
    return now - oldest;
  }

  /**
   * Lanes with a task queued or running asynchronously: the lanes with work in
   * flight (a synchronous task never is, between two events). A copy.
   */
  busyLanes(): number[] {
    return this.lanes.keys();
  }

  /** Resolves once nothing runs or waits. */
  idle(): Promise<void> {
    if (this.running === 0 && this.waiting === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private start(lane: number | undefined, task: Task): void {
    this.running++;
    let result: unknown;
    try {
      result = task.run();
    } catch (error) {
      this.end(lane, task, error, true);
      return;
    }
    if (!isThenable(result)) {
      this.end(lane, task, result, false);
      return;
    }
    if (lane !== undefined && !this.lanes.has(lane)) this.lanes.set(lane, NONE_WAITING);
    result.then(
      (value: unknown) => this.end(lane, task, value, false),
      (error: unknown) => this.end(lane, task, error, true),
    );
  }

  /** Tells `task` how it ended, with its result or error (what its own callbacks throw goes to onTaskError), then ends its turn. */
  private end(lane: number | undefined, task: Task, outcome: unknown, failed: boolean): void {
    try {
      if (!failed) task.done?.(outcome);
      else if (task.failed !== undefined) task.failed(outcome);
      else this.onTaskError(outcome);
    } catch (thrown) {
      this.onTaskError(thrown);
    }
    this.finish(lane);
  }

  private finish(lane: number | undefined): void {
    this.running--;
    if (lane !== undefined) {
      const waitingInLane = this.lanes.get(lane);
      const next = waitingInLane === undefined || waitingInLane.length === 0 ? undefined : waitingInLane.shift();
      if (next !== undefined) this.ready.push(next);
      else if (waitingInLane !== undefined) {
        this.lanes.delete(lane);
        this.onLaneIdle?.(lane);
      }
    }
    this.pump();
  }

  /** Starts ready tasks while slots are free. A loop, not recursion: synchronous tasks would nest deeply. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.running < this.concurrency && !this.paused) {
        const next = this.ready.shift();
        if (next === undefined) break;
        this.waiting--;
        this.start(next.lane, next.task);
      }
    } finally {
      this.pumping = false;
    }
    this.settleIdle();
  }

  /** Resolves idle() once nothing runs or waits. */
  private settleIdle(): void {
    if (this.running === 0 && this.waiting === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}

/** A promise or any other object with a `then` method; null and other values are not. */
function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}
