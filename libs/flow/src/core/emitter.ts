/**
 * A minimal typed event emitter (the core cannot use Node's EventEmitter).
 * A listener that throws is isolated: the others still run, and the error
 * goes to `onListenerError`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export class Emitter<Events extends Record<keyof Events, (...args: any[]) => void>> {
  private readonly listeners = new Map<keyof Events, Set<Events[keyof Events]>>();

  constructor(private readonly onListenerError: (error: unknown) => void = () => undefined) {}

  /** Adds a listener; the returned function removes it. */
  on<E extends keyof Events>(event: E, listener: Events[E]): () => void {
    let set = this.listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  hasListeners(event: keyof Events): boolean {
    return (this.listeners.get(event)?.size ?? 0) > 0;
  }

  emit<E extends keyof Events>(event: E, ...args: Parameters<Events[E]>): void {
    const set = this.listeners.get(event);
    if (set === undefined) return;
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }

  /** Emits, then waits for the promises listeners returned; their rejections go to `onListenerError`. */
  async emitAndWait<E extends keyof Events>(event: E, ...args: Parameters<Events[E]>): Promise<void> {
    const waits: Promise<unknown>[] = [];
    for (const listener of [...(this.listeners.get(event) ?? [])]) {
      try {
        const result: unknown = listener(...args);
        if (result instanceof Promise) waits.push(result.catch((error: unknown) => this.onListenerError(error)));
      } catch (error) {
        this.onListenerError(error);
      }
    }
    await Promise.all(waits);
  }

  removeAll(): void {
    this.listeners.clear();
  }
}
