import type { BrokerFleet } from './broker-fleet';
import { waitAcross, type BrokerProcess } from './broker-process';
import { awaitConvergence, awaitPublisherView } from './clique-waits';
import { journalClock } from './journal';

/** One broker's turn in a roll; times on journalClock(). */
export interface RestartStep {
  readonly label: string;
  /** When SIGTERM was sent. */
  readonly terminatedAt: number;
  /** How the process exited ('0': its graceful shutdown completed). */
  readonly exit: string;
  readonly exitedAt: number;
  /** When every ring, and the publisher's view (when it keeps one), held all positions again. */
  readonly convergedAt: number;
}

export interface RestartOptions {
  /** Ring positions per broker (virtualNodes). */
  readonly positions: number;
  /** Bound on each wait (exit, the survivors' rings, convergence). */
  readonly timeoutMs: number;
  /** Label of the restarted worker; default `${old label}'`. */
  readonly label?: (worker: BrokerProcess) => string;
  /** Called after SIGTERM and before the restart: e.g. to hold the broker down for a while. */
  readonly beforeRestart?: (step: { terminatedAt: number; exitedAt: number }) => Promise<void>;
}

/**
 * Restarts `handlers[index]` as a deployment does: SIGTERM (graceful
 * shutdown), wait until it has exited and the other brokers dropped it, start
 * it again with the same configuration (node name) and wait until every ring
 * and the publisher's view are whole (`publisher` undefined: a publisher that
 * keeps no view, directRouting false). Replaces the entry in `handlers`.
 */
export async function restartOne(
  fleet: BrokerFleet,
  handlers: BrokerProcess[],
  index: number,
  publisher: BrokerProcess | undefined,
  options: RestartOptions,
): Promise<RestartStep> {
  const victim = handlers[index]!;
  const others = handlers.filter((h) => h !== victim);
  const full = handlers.length * options.positions;
  const terminatedAt = journalClock();
  const exit = await victim.terminate(options.timeoutMs);
  const exitedAt = journalClock();
  await waitAcross(
    others,
    () => others.every((h) => h.ringSize === full - options.positions),
    options.timeoutMs,
    () => `the others drop ${victim.label} (ring sizes ${others.map((h) => h.ringSize).join(', ')})`,
  );
  await options.beforeRestart?.({ terminatedAt, exitedAt });
  const restarted = await fleet.relaunch(victim, options.label?.(victim) ?? `${victim.label}'`);
  handlers[index] = restarted;
  await awaitConvergence(handlers, full, options.timeoutMs);
  if (publisher !== undefined) await awaitPublisherView(publisher, full, options.timeoutMs);
  return { label: victim.label, terminatedAt, exit, exitedAt, convergedAt: journalClock() };
}

/** restartOne for each handler in turn. */
export async function rollingRestart(
  fleet: BrokerFleet,
  handlers: BrokerProcess[],
  publisher: BrokerProcess | undefined,
  options: RestartOptions,
): Promise<RestartStep[]> {
  const steps: RestartStep[] = [];
  for (let index = 0; index < handlers.length; index++) {
    steps.push(await restartOne(fleet, handlers, index, publisher, options));
  }
  return steps;
}
