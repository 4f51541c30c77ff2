/**
 * The routing table of a MemoryBus: which subscriptions a message on a subject
 * reaches, with NATS core semantics (exact subject match, every plain
 * subscriber, one member per queue group in turn). The delivery queue that
 * uses it is memory-exchange.ts.
 */
import type { MemorySubscription } from './memory-exchange';

/** @internal A queue group on one subject; not exported from the package index. */
export interface QueueGroup {
  readonly queue: string;
  /** Replaced, never mutated, so that a drain iterating a snapshot is safe. */
  members: MemorySubscription[];
  next: number;
}

/** @internal The subscriptions of one subject; not exported from the package index. */
export interface Route {
  /** Copy-on-write, like QueueGroup.members. */
  plain: MemorySubscription[];
  groups: QueueGroup[];
}

/**
 * The member of `group` whose turn it is, in subscription order (round-robin
 * per group and subject); undefined when it has none. Advances the turn.
 */
export function takeTurn(group: QueueGroup): MemorySubscription | undefined {
  const members = group.members;
  if (members.length === 0) return undefined;
  if (group.next >= members.length) group.next = 0;
  return members[group.next++];
}

/** @internal Routes by subject; a subject without a live subscription has none. */
export class MemoryRoutes {
  readonly #routes = new Map<string, Route>();

  get(subject: string): Route | undefined {
    return this.#routes.get(subject);
  }

  /** True when `subject` has at least one live subscription. */
  has(subject: string): boolean {
    return this.#routes.has(subject);
  }

  add(subscription: MemorySubscription): void {
    let route = this.#routes.get(subscription.subject);
    if (route === undefined) {
      route = { plain: [], groups: [] };
      this.#routes.set(subscription.subject, route);
    }
    if (subscription.queue === undefined) {
      route.plain = [...route.plain, subscription];
      return;
    }
    const group = route.groups.find((g) => g.queue === subscription.queue);
    if (group === undefined) {
      route.groups = [...route.groups, { queue: subscription.queue, members: [subscription], next: 0 }];
    } else {
      group.members = [...group.members, subscription];
    }
  }

  remove(subscription: MemorySubscription): void {
    const route = this.#routes.get(subscription.subject);
    if (route === undefined) return;
    if (subscription.queue === undefined) {
      route.plain = route.plain.filter((s) => s !== subscription);
    } else {
      const group = route.groups.find((g) => g.queue === subscription.queue);
      if (group !== undefined) {
        group.members = group.members.filter((s) => s !== subscription);
        if (group.members.length === 0) route.groups = route.groups.filter((g) => g !== group);
      }
    }
    if (route.plain.length === 0 && route.groups.length === 0) this.#routes.delete(subscription.subject);
  }
}
