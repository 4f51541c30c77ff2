import { ConsoleLogger } from '@nestjs/common';

/** Contexts whose log-level lines are shown: Flow's and the ledger's own. */
function shown(context: unknown): boolean {
  return typeof context === 'string' && (context === 'Flow' || context.startsWith('Ledger'));
}

/**
 * Nest's console logger, quiet: warnings and errors from everyone, but
 * log-level lines only from Flow and the ledger (`Ledger*` contexts). A Flow
 * line that several nodes of the process print alike (such as "using the
 * embedded in-memory transport") is printed once per logger.
 */
export class LedgerLogger extends ConsoleLogger {
  readonly #noticed = new Set<string>();

  constructor() {
    super({ logLevels: ['fatal', 'error', 'warn', 'log'], colors: process.stdout.isTTY === true });
  }

  override log(message: unknown, ...rest: unknown[]): void {
    const context = rest.length > 0 ? rest[rest.length - 1] : this.context;
    if (!shown(context)) return;
    if (context === 'Flow') {
      const notice = String(message);
      if (this.#noticed.has(notice)) return;
      this.#noticed.add(notice);
    }
    super.log(message, ...rest);
  }
}
