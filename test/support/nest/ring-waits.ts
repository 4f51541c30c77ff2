import { within } from '../../harness/within';
import type { FlowApp } from './flow-app';

/**
 * Resolves once every app's broker lists exactly `positions` ring members and
 * all of them list the same ones; re-checks on each membership event, never polls.
 */
export async function awaitRing(apps: readonly FlowApp[], positions: number, timeoutMs = 10_000): Promise<void> {
  const agreed = (): boolean => {
    const views = apps.map((app) => app.broker.snapshot().members.map((key) => key.toString()).join(','));
    return apps.every((app) => app.broker.snapshot().members.length === positions) && views.every((view) => view === views[0]);
  };
  if (agreed()) return;
  const removers: (() => void)[] = [];
  const converged = new Promise<void>((resolve) => {
    const check = (): void => {
      if (agreed()) resolve();
    };
    for (const app of apps) {
      for (const event of ['joined', 'left', 'suspected'] as const) removers.push(app.broker.on(event, check));
    }
    check();
  });
  const sizes = (): string => apps.map((app) => `${app.name}=${app.broker.snapshot().members.length}`).join(' ');
  try {
    await within(converged, timeoutMs, `rings of ${positions} identical members`).catch((error: Error) => {
      throw new Error(`${error.message}; sizes now ${sizes()}`);
    });
  } finally {
    for (const remove of removers) remove();
  }
}
