import { systemClock } from '../core/clock';
import { ErrorReporter } from '../core/error-reporter';
import { type FlowError, TransportError } from '../core/errors';
import { IdTable } from '../core/id-table';

/** Refusals of one subject after the first are summarized at most this often (ms). */
const REPORT_INTERVAL = 10_000;

/**
 * Publishes the NATS server refused (a permissions violation names only the
 * subject): the requests that asked to hear it (NatsPubSub.publishRequest's
 * `onRefused`), by reply token, and the reports of refusals
 * nobody asked about: the first of each subject at once, later ones as one
 * summary per REPORT_INTERVAL with their number. Every refusal of a subject
 * tells all the requests waiting on it: the server refuses every publish on
 * a subject its user may not publish on.
 */
export class PublishRefusals {
  /**
   * The requests waiting to hear a refusal, by reply token. One table, read
   * whole on a refusal (rare): a table per subject would be made and dropped
   * per request when requests go one at a time.
   */
  private readonly waiting = new IdTable<{ readonly subject: string; readonly onRefused: (error: FlowError) => void }, number>();
  private readonly reporter: ErrorReporter;

  constructor(private readonly report: (error: unknown, subject?: string) => void) {
    this.reporter = new ErrorReporter(systemClock, REPORT_INTERVAL, (error) => report(error));
  }

  /** Request `token` on `subject` hears a refusal through `onRefused`, until forget(token). */
  watch(subject: string, token: number, onRefused: (error: FlowError) => void): void {
    this.waiting.set(token, { subject, onRefused });
  }

  forget(token: number): void {
    this.waiting.delete(token);
  }

  /**
   * The server refused a publish on `subject`: each request waiting on it is
   * told (an error of its own) and forgotten, `told(token)` first, in the
   * order they were sent; with none, it is reported.
   */
  refused(subject: string, cause: unknown, told: (token: number) => void): void {
    const refusal = (): TransportError =>
      new TransportError(`the NATS server refused to publish on "${subject}" (permissions violation): nothing was delivered`, { cause });
    const watchers: [number, (error: FlowError) => void][] = [];
    this.waiting.forEach((watch, token) => {
      if (watch.subject === subject) watchers.push([token, watch.onRefused]);
    });
    if (watchers.length === 0) return this.reporter.report(`refused:${subject}`, refusal());
    for (const [token] of watchers) this.waiting.delete(token);
    for (const [token, onRefused] of watchers.sort((a, b) => a[0] - b[0])) {
      told(token);
      try {
        onRefused(refusal());
      } catch (thrown) {
        this.report(thrown, subject);
      }
    }
  }

  /** Sends the pending summaries and clears their timers (the adapter closed). */
  stop(): void {
    this.reporter.stop();
  }
}
