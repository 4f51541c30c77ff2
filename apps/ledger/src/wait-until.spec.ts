import { TimeoutError } from 'nestjs-flow';
import { waitUntil, WakeSource } from './wait-until';

/** An event source whose listeners the spec can count and fire. */
function source(): { wakeSource: WakeSource; fire: () => void; listeners: Set<() => void> } {
  const listeners = new Set<() => void>();
  return {
    listeners,
    wakeSource: (wake) => {
      listeners.add(wake);
      return () => listeners.delete(wake);
    },
    fire: () => {
      for (const listener of [...listeners]) listener();
    },
  };
}

describe('waitUntil', () => {
  it('resolves at once when the condition already holds, without subscribing', async () => {
    const events = source();
    await waitUntil(() => true, { sources: [events.wakeSource], timeoutMs: 1_000, describe: () => 'nothing' });
    expect(events.listeners.size).toBe(0);
  });

  it('tests the condition again after each event and unsubscribes once it holds', async () => {
    const events = source();
    let count = 0;
    const waiting = waitUntil(() => count >= 2, { sources: [events.wakeSource], timeoutMs: 5_000, describe: () => 'two' });
    count = 1;
    events.fire();
    count = 2;
    events.fire();

    await waiting;
    expect(events.listeners.size).toBe(0);
  });

  it('rejects with a TimeoutError that says what it waited for and how far it got', async () => {
    const events = source();
    const failure = await waitUntil(() => false, {
      sources: [events.wakeSource],
      timeoutMs: 20,
      describe: () => '3 commands (so far 1)',
    }).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(TimeoutError);
    expect((failure as Error).message).toBe('waiting for 3 commands (so far 1) timed out after 20 ms');
    expect(events.listeners.size).toBe(0);
  });
});
