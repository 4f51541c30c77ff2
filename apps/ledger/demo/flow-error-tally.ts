import { Logger } from '@nestjs/common';
import type { FlowError } from 'nestjs-flow';

/** The code Flow gives a handler failure caused by ValidationPipe (a BadRequestException). */
export const VALIDATION_FAILED = 'HTTP_400';

/**
 * The `onError` sink of one node's FlowModule: Flow reports there what has no
 * caller to return to, above all message-stream commands that failed
 * validation. Counts every error by code and keeps the latest of each; logs
 * the first error of every code other than validation at warn level, so a
 * stream of rejected commands does not flood the log but a transport or
 * overload problem is seen.
 */
export class FlowErrorTally {
  readonly #logger: Logger;
  readonly #counts = new Map<string, number>();
  readonly #latest = new Map<string, FlowError>();
  readonly #listeners = new Set<() => void>();

  /** `node` names the node in log lines. */
  constructor(readonly node: string) {
    this.#logger = new Logger(`Ledger ${node}`);
  }

  /** Bound, so it can be passed as `onError` directly. */
  readonly record = (error: FlowError): void => {
    const count = (this.#counts.get(error.code) ?? 0) + 1;
    this.#counts.set(error.code, count);
    this.#latest.set(error.code, error);
    if (count === 1 && error.code !== VALIDATION_FAILED) this.#logger.warn(`${error.code}: ${error.message}`);
    for (const listener of this.#listeners) listener();
  };

  /** Errors recorded with `code`. */
  count(code: string): number {
    return this.#counts.get(code) ?? 0;
  }

  /** Commands rejected by validation (or by the controller as bad requests). */
  get rejected(): number {
    return this.count(VALIDATION_FAILED);
  }

  /** Every error recorded, whatever its code. */
  get total(): number {
    let total = 0;
    for (const count of this.#counts.values()) total += count;
    return total;
  }

  /** Counts by code, in first-seen order. */
  counts(): Record<string, number> {
    return Object.fromEntries(this.#counts);
  }

  latest(code: string): FlowError | undefined {
    return this.#latest.get(code);
  }

  /** Calls `listener` after every error; returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
