import type { U64 } from './bytes';
import type { Clock } from './clock';
import type { Key } from './key';
import type { Verdict } from './liveness';

/** How many given-up forwards are remembered for late answers. */
const GIVEN_UP_MEMORY = 4096;

/** What the forwarder's signs of life need from its broker. */
export interface OwnerSignsHost {
  readonly clock: Clock;
  /** Whether a ring position's broker answers (liveness.ts): only an answer is proof of life. */
  probe(key: Key): Promise<Verdict>;
  /** Puts back a ring position that proved alive after being suspected. */
  readmit(key: Key): void;
}

/**
 * What the forwarder knows of its owners' health: when each last answered a
 * forward, one liveness probe per owner at a time, and the forwards given up
 * on, so that a late answer to one proves its owner alive and re-admits it at
 * once instead of at the next stabilization. Bounded: the oldest given-up
 * forwards are forgotten first.
 */
export class OwnerSigns {
  /** When each ring position last answered one of our forwards (clock time, by key text). */
  private readonly lastHeard = new Map<string, number>();
  private readonly givenUp = new Map<U64, Key>();
  private readonly probes = new Map<string, Promise<Verdict>>();
  /** When each ring position last sent a JOIN (clock time, by key text), the newest GIVEN_UP_MEMORY. */
  private readonly lastJoined = new Map<string, number>();

  constructor(private readonly host: OwnerSignsHost) {}

  /** `position` sent a JOIN: a broker (re)started there, which has not seen what was sent to it before. */
  joined(position: Key): void {
    const text = position.toString();
    this.lastJoined.delete(text);
    this.lastJoined.set(text, this.host.clock.now());
    if (this.lastJoined.size > GIVEN_UP_MEMORY) this.lastJoined.delete(this.lastJoined.keys().next().value!);
  }

  /** True when `position` sent a JOIN after `at` (strictly: a JOIN of the same instant may be the start this was sent to). */
  joinedSince(position: Key, at: number): boolean {
    const joined = this.lastJoined.get(position.toString());
    return joined !== undefined && joined > at;
  }

  /** Forwards given up on and still remembered. */
  get givenUpCount(): number {
    return this.givenUp.size;
  }

  heard(owner: Key): void {
    this.lastHeard.set(owner.toString(), this.host.clock.now());
  }

  /** True when `owner` answered a forward within the last `ms`: alive, if slow. */
  heardWithin(owner: Key, ms: number): boolean {
    const heard = this.lastHeard.get(owner.toString());
    return heard !== undefined && this.host.clock.now() - heard < ms;
  }

  /** Forward `id` to `owner` was given up on: its owner is not heard from until it answers again. */
  gaveUp(id: U64, owner: Key): void {
    this.givenUp.set(id, owner);
    if (this.givenUp.size > GIVEN_UP_MEMORY) this.givenUp.delete(this.givenUp.keys().next().value!);
    this.lastHeard.delete(owner.toString());
  }

  /** An answer that matched no pending forward: if it was one given up on, its owner is alive after all. */
  lateAnswer(id: U64): void {
    const owner = this.givenUp.get(id);
    if (owner === undefined) return;
    this.givenUp.delete(id);
    this.heard(owner);
    this.host.readmit(owner);
  }

  /** One probe per owner at a time, shared by all its overdue forwards; a failed probe is 'unknown'. */
  probe(owner: Key): Promise<Verdict> {
    const text = owner.toString();
    let probe = this.probes.get(text);
    if (probe === undefined) {
      probe = this.host.probe(owner).then(
        (verdict) => verdict,
        (): Verdict => 'unknown',
      );
      this.probes.set(text, probe);
      void probe.finally(() => this.probes.delete(text));
    }
    return probe;
  }
}
