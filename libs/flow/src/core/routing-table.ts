import { InvalidOptionError } from './errors';
import type { Key } from './key';
import { KeyIndex } from './key-index';
import { Ring } from './ring';

export interface RoutingTableOptions {
  /** The local broker's ring positions (virtual nodes); at least one. */
  local: readonly Key[];
  /** How many successors INFO lists after the predecessor (Go flow: `Successors`). */
  successors: number;
  /** How many further members each stabilization round PINGs (Go flow: `Stabilizers`). */
  stabilizers: number;
}

/**
 * One broker's view of its clique: a Ring holding the remote members and the
 * local broker's own positions. Local positions are members from construction
 * on and can never be removed, so every partition always has an owner.
 *
 * Not thread-safe and needs no lock: the broker calls it from one event loop.
 */
export class RoutingTable {
  /** The local positions, ascending and distinct. Never changes. */
  readonly local: readonly Key[];
  readonly #successors: number;
  readonly #stabilizers: number;
  readonly #ring = new Ring();
  readonly #localKeys: ReadonlySet<Key>;
  readonly #localIndex: KeyIndex;
  /** Ring index where the next stabilizer rotation starts (Go flow's stabIdx). */
  #rotation = 0;
  /** Left the ring (graceful shutdown): local positions stay listed but own nothing. */
  #retired = false;

  constructor(options: RoutingTableOptions) {
    if (options.local.length === 0) {
      throw new InvalidOptionError('local', 'must hold at least one key', options.local);
    }
    requireCount('successors', options.successors);
    requireCount('stabilizers', options.stabilizers);
    for (const key of options.local) this.#ring.add(key);
    this.local = Object.freeze(this.#ring.keys());
    this.#localKeys = new Set(this.local);
    this.#localIndex = new KeyIndex(this.local);
    this.#successors = options.successors;
    this.#stabilizers = options.stabilizers;
  }

  isLocal(key: Key): boolean {
    // The ring's owners are these very objects: most calls end at the first test.
    return this.#localKeys.has(key) || this.#localIndex.has(key);
  }

  /** Adds the keys not yet known and returns the remote ones among them, in input order. */
  register(keys: Iterable<Key>): Key[] {
    return this.#ring.addAll([...keys]);
  }

  /** Removes a remote member; false for unknown keys and for local positions. */
  unregister(key: Key): boolean {
    return !this.isLocal(key) && this.#ring.remove(key);
  }

  /** Members removed so far (Ring.removals): while it stays the same, no member has left. */
  get removals(): number {
    return this.#ring.removals;
  }

  /** True when `key` is on the ring (local or remote). */
  isMember(key: Key): boolean {
    return this.#ring.has(key);
  }

  /**
   * The member owning `partition`: defined because local positions are always
   * members. Once retired, the first remote member from there on (a local
   * position only when no remote member is left).
   */
  ownerOf(partition: Key): Key {
    if (!this.#retired) return this.#ring.ownerOf(partition) as Key;
    const start = this.#ring.ceilingIndex(partition);
    const size = this.#ring.size;
    for (let i = 0; i < size; i++) {
      const member = this.#ring.at(start + i) as Key;
      if (!this.isLocal(member)) return member;
    }
    return this.#ring.at(start) as Key;
  }

  /** This broker left the ring: from now on its keys route to the members that took them over. */
  retire(): void {
    this.#retired = true;
  }

  /**
   * The keys an INFO about position `of` carries, in Go flow's order: the
   * predecessor of `of`, its next `successors` members, then `of` itself.
   * When the other members number fewer than `successors + 1`, all of them
   * in ascending order (as Go copies its whole ring), then `of`. The other
   * local positions are ordinary members here: peers see them as nodes.
   */
  neighbours(of: Key): Key[] {
    const ring = this.#ring;
    const isMember = ring.has(of);
    const others = ring.size - (isMember ? 1 : 0);
    if (others < this.#successors + 1) {
      const result = ring.keys().filter((k) => !k.equals(of));
      result.push(of);
      return result;
    }
    // Index of `of` when it is a member, else of its successor.
    const at = ring.ceilingIndex(of);
    const result = [ring.at(at - 1) as Key];
    const first = isMember ? at + 1 : at;
    for (let i = 0; i < this.#successors; i++) result.push(ring.at(first + i) as Key);
    result.push(of);
    return result;
  }

  /**
   * The remote members to PING this stabilization round: the successor of
   * each local position when that successor is remote, then `stabilizers`
   * further remote members taken from a cursor that walks the ring between
   * calls (Go flow's stabIdx), so that with a stable ring every remote member
   * is pinged within ceil(remote / stabilizers) rounds. Without duplicates and
   * never a local position; every remote member, in ring order, when they
   * are no more than the successors and stabilizers together.
   */
  stabilizers(): Key[] {
    const ring = this.#ring;
    const remote = this.remoteCount();
    if (remote === 0) return [];

    const picked: Key[] = [];
    const seen = new Set<string>();
    for (const position of this.local) {
      const successor = ring.at(ring.indexOf(position) + 1) as Key;
      if (!this.isLocal(successor) && !seen.has(successor.toString())) {
        seen.add(successor.toString());
        picked.push(successor);
      }
    }
    if (remote <= picked.length + this.#stabilizers) {
      return ring.keys().filter((k) => !this.isLocal(k));
    }

    // Successors are pinged every round anyway, so the rotation skips them
    // and spends its budget on members that would otherwise go unchecked.
    const size = ring.size;
    let cursor = this.#rotation % size;
    let taken = 0;
    for (let step = 0; step < size && taken < this.#stabilizers; step++, cursor++) {
      const key = ring.at(cursor) as Key;
      if (this.isLocal(key) || seen.has(key.toString())) continue;
      picked.push(key);
      taken++;
    }
    this.#rotation = cursor % size;
    return picked;
  }

  /** All members, local positions included, in ascending order (a copy). */
  members(): readonly Key[] {
    return this.#ring.keys();
  }

  remoteCount(): number {
    return this.#ring.size - this.local.length;
  }
}

function requireCount(option: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidOptionError(option, 'must be a non-negative integer', value);
  }
}
