import { ConsoleLogger } from '@nestjs/common';

/** Contexts whose log-level lines are shown: the Flow module's notices and the ledger's own. */
function shown(context: unknown): boolean {
  return typeof context === 'string' && (context === 'FlowModule' || context.startsWith('Ledger'));
}

/**
 * Nest's console logger, quiet: warnings and errors from everyone, but
 * log-level lines only from FlowModule and the ledger (`Ledger*` contexts).
 * A FlowModule notice (such as "using the embedded in-memory transport")
 * is printed once per logger, not once per node of the process.
 */
export class LedgerLogger extends ConsoleLogger {
  readonly #noticed = new Set<string>();

  constructor() {
    super({ logLevels: ['fatal', 'error', 'warn', 'log'], colors: process.stdout.isTTY === true });
  }

  override log(message: unknown, ...rest: unknown[]): void {
    const context = rest.length > 0 ? rest[rest.length - 1] : this.context;
    if (!shown(context)) return;
    if (context === 'FlowModule') {
      const notice = String(message);
      if (this.#noticed.has(notice)) return;
      this.#noticed.add(notice);
    }
    super.log(message, ...rest);
  }
}
