import type { U64 } from './bytes';
import type { DuplicateWindow } from './duplicate-window';
import type { FlowError } from './errors';

/** Refusals remembered to answer retries the same way, at most (refusals happen under overload or misconfiguration). */
export const REFUSALS = 1 << 12;

/**
 * The publishes an owner refused, so that a retry of one (one that crossed
 * the ERR, or one sent because the ERR was lost or late) gets the same ERR,
 * not a second chance that could run it after its publisher was told it was
 * refused (seed 166 of the simulation with overloaded owners). The newest
 * REFUSALS are kept, by '<origin>/<id>'; the duplicate window marks each
 * refused, and only an id it marks costs a string key, as every FWD is
 * looked up here (docs/PROTOCOL.md, "Duplicate window").
 */
export class Refusals {
  private readonly byName = new Map<string, FlowError>();

  constructor(private readonly seen: DuplicateWindow) {}

  /** The refusal of `id` of `origin`, when it is remembered. */
  of(origin: string, id: U64): FlowError | undefined {
    return this.byName.size > 0 && this.seen.isRefused(origin, id) ? this.byName.get(`${origin}/${id}`) : undefined;
  }

  /** `id` of `origin` is refused for good, with `error`. */
  record(origin: string, id: U64, error: FlowError): void {
    if (this.byName.size >= REFUSALS) this.byName.delete(this.byName.keys().next().value!);
    this.byName.set(`${origin}/${id}`, error);
    this.seen.refusedNow(origin, id);
  }
}
