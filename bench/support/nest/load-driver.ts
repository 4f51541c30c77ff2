import { BenchPayloads } from './bench-payload';
import { wallClock, type BenchPayload, type EventPlan, type EventReport, type RequestPlan, type RequestReport } from './bench-ipc';

/** What a publisher process drives: Nest's ClientProxy or Flow's FlowClient behind one face. */
export interface LoadTarget {
  /** Publishes one event; `key` is ignored by unkeyed targets. */
  emit(payload: BenchPayload, key: string): Promise<void>;
  /** Resolves once everything published so far has reached the server. */
  flush(): Promise<void>;
  request(payload: BenchPayload, key: string): Promise<unknown>;
}

/** A window stalls the publisher at most this long without news before it gives up (drops). */
const STALL_MS = 10_000;

/** The consumers' handled total as the parent relays it; a publisher waits on it to keep its window. */
export class Credits {
  handled = 0;
  #waiters = new Set<{ threshold: number; resolve: (reached: boolean) => void }>();

  update(handled: number): void {
    this.handled = Math.max(this.handled, handled);
    for (const waiter of [...this.#waiters]) {
      if (this.handled >= waiter.threshold) {
        this.#waiters.delete(waiter);
        waiter.resolve(true);
      }
    }
  }

  /** Resolves true once `threshold` is reached, false when no update came for STALL_MS. */
  until(threshold: number): Promise<boolean> {
    if (this.handled >= threshold) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = {
        threshold,
        resolve: (reached: boolean) => {
          clearTimeout(timer);
          resolve(reached);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        resolve(false);
      }, STALL_MS);
      this.#waiters.add(waiter);
    });
  }
}

function countError(errors: Record<string, number>, error: unknown): void {
  const { code, name } = (error ?? {}) as { code?: unknown; name?: unknown };
  const key = typeof code === 'string' ? code : typeof name === 'string' ? name : String(error).slice(0, 60);
  errors[key] = (errors[key] ?? 0) + 1;
}

/** `count` partition keys; none (one empty key: unkeyed) when count is 0. */
function partitionKeys(count: number): string[] {
  return count === 0 ? [''] : Array.from({ length: count }, (_, i) => `customer-${i}`);
}

/**
 * Publishes plan.count events in batches: each batch's publishes are
 * awaited, then a flush, then the window: at most plan.window events may be
 * published and not yet handled (`sentBefore` counts what earlier plans of
 * this process published, which the consumers' totals include).
 */
export async function publishEvents(
  target: LoadTarget,
  plan: EventPlan,
  credits: Credits,
  sentBefore: number,
): Promise<EventReport> {
  const payloads = new BenchPayloads(plan.payloadBytes);
  const keys = partitionKeys(plan.keys);
  const errors: Record<string, number> = {};
  let published = 0;
  let failed = 0;
  const firstAt = wallClock();
  let batch: Promise<void>[] = [];
  const end = plan.first + plan.count;
  for (let seq = plan.first; seq < end; seq++) {
    batch.push(
      target.emit(payloads.payload(seq), keys[seq % keys.length]!).then(
        () => void published++,
        (error: unknown) => {
          failed++;
          countError(errors, error);
        },
      ),
    );
    if (batch.length === plan.batch || seq === end - 1) {
      await Promise.all(batch);
      batch = [];
      await target.flush();
      if (!(await credits.until(sentBefore + published - plan.window))) {
        countError(errors, { code: 'WINDOW_STALLED' });
        break;
      }
    }
  }
  return { published, failed, firstAt, lastAt: wallClock(), errors };
}

/** Sends plan.count requests, plan.concurrency at a time, and reports rate and latency percentiles. */
export async function sendRequests(target: LoadTarget, plan: RequestPlan): Promise<Omit<RequestReport, 'oldDirectBytes'>> {
  const payloads = new BenchPayloads(plan.payloadBytes);
  const keys = partitionKeys(plan.keys);
  const errors: Record<string, number> = {};
  const latencies = new Float64Array(plan.count);
  let completed = 0;
  let failed = 0;
  let next = 0;
  const started = performance.now();
  const lane = async (): Promise<void> => {
    while (next < plan.count) {
      const seq = next++;
      const sentAt = performance.now();
      try {
        await target.request(payloads.payload(seq), keys[seq % keys.length]!);
        latencies[completed++] = (performance.now() - sentAt) * 1000;
      } catch (error) {
        failed++;
        countError(errors, error);
      }
    }
  };
  await Promise.all(Array.from({ length: plan.concurrency }, lane));
  const elapsedMs = performance.now() - started;
  const sorted = latencies.subarray(0, completed).sort();
  const percentile = (p: number): number => (completed === 0 ? Number.NaN : sorted[Math.min(completed - 1, Math.floor(p * completed))]!);
  return {
    completed,
    failed,
    elapsedMs,
    p50Us: percentile(0.5),
    p99Us: percentile(0.99),
    maxUs: completed === 0 ? Number.NaN : sorted[completed - 1]!,
    errors,
  };
}
