import { systemClock } from '../core/clock';
import { ErrorReporter } from '../core/error-reporter';
import { type FlowError, TransportError } from '../core/errors';
import { IdTable } from '../core/id-table';

/** Refusals of one subject after the first are summarized at most this often (ms). */
const REPORT_INTERVAL = 10_000;

/**
 * Publishes the NATS server refused (a permissions violation names only the
 * subject): the requests that asked to hear it (NatsPubSub.publishRequest's
 * `onRefused`), by subject and reply token, and the reports of refusals
 * nobody asked about: the first of each subject at once, later ones as one
 * summary per REPORT_INTERVAL with their number. Every refusal of a subject
 * tells all the requests waiting on it: the server refuses every publish on
 * a subject its user may not publish on.
 */
export class PublishRefusals {
  /** By subject, then reply token (IdTables: a token comes and goes per request). */
  private readonly waiting = new Map<string, IdTable<(error: FlowError) => void>>();
  /** The subject of each token in `waiting`. */
  private readonly subjects = new IdTable<string>();
  private readonly reporter: ErrorReporter;

  constructor(private readonly report: (error: unknown, subject?: string) => void) {
    this.reporter = new ErrorReporter(systemClock, REPORT_INTERVAL, (error) => report(error));
  }

  /** Request `token` on `subject` hears a refusal through `onRefused`, until forget(token). */
  watch(subject: string, token: number, onRefused: (error: FlowError) => void): void {
    let waiting = this.waiting.get(subject);
    if (waiting === undefined) this.waiting.set(subject, (waiting = new IdTable()));
    waiting.set(token, onRefused);
    this.subjects.set(token, subject);
  }

  forget(token: number): void {
    const subject = this.subjects.get(token);
    if (subject === undefined) return;
    this.subjects.delete(token);
    const waiting = this.waiting.get(subject);
    waiting?.delete(token);
    if (waiting?.size === 0) this.waiting.delete(subject);
  }

  /**
   * The server refused a publish on `subject`: each request waiting on it is
   * told (an error of its own) and forgotten, `told(token)` first; with none,
   * it is reported.
   */
  refused(subject: string, cause: unknown, told: (token: number) => void): void {
    const refusal = (): TransportError =>
      new TransportError(`the NATS server refused to publish on "${subject}" (permissions violation): nothing was delivered`, { cause });
    const waiting = this.waiting.get(subject);
    if (waiting === undefined) return this.reporter.report(`refused:${subject}`, refusal());
    this.waiting.delete(subject);
    const watchers: [number, (error: FlowError) => void][] = [];
    waiting.forEach((onRefused, token) => watchers.push([token as number, onRefused]));
    // In the order the requests were sent.
    for (const [token, onRefused] of watchers.sort((a, b) => a[0] - b[0])) {
      this.subjects.delete(token);
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
