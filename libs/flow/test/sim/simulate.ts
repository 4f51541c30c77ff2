import { checkTrace, Violations } from './checkers';
import { drawSchedule, Schedule, ScheduleOptions, SimEvent } from './schedule';
import { Trace } from './trace';
import { World } from './world';

export interface SimResult {
  readonly schedule: Schedule;
  readonly trace: Trace;
  readonly violations: Violations;
}

/**
 * Draws the schedule of `seed`, runs it and checks its trace. The same seed (and options) gives the same result;
 * `log` (frame-log.ts) only watches.
 */
export async function simulate(seed: number, options: ScheduleOptions = {}, log?: (line: string) => void): Promise<SimResult> {
  const schedule = drawSchedule(seed, options);
  const trace = await new World(schedule, log).run();
  return { schedule, trace, violations: checkTrace(trace) };
}

/** The command that prints this seed's schedule, trace and violations. */
export function replayCommand(seed: number, options: ScheduleOptions = {}): string {
  const flags = [
    options.overload === true ? ' --overload' : '',
    options.publisherRestart === true ? ' --publisher-restart' : '',
    options.memberPublishers === true ? ' --member-publishers' : '',
    options.requests === true ? ' --requests' : '',
  ].join('');
  return `npm run sim -- --seed ${seed}${flags} --verbose`;
}

/** What the seed's schedule contains, for the per-class assertions and reports. */
export function describeSchedule(schedule: Schedule): string {
  const { membership, initial, publishers, events, faults } = schedule;
  const changes = events
    .filter((e): e is Change => e.kind !== 'publish')
    .map((e) => `${describeChange(e)}@${e.at}`);
  const messages = events.length - changes.length;
  const requests = events.filter((e) => e.kind === 'publish' && e.request === true).length;
  return (
    `seed ${schedule.seed}: ${membership}; ${initial.length} brokers, ${publishers} publisher(s), ${messages} messages` +
    `${requests > 0 ? ` (${requests} of them requests)` : ''}; ` +
    `drop ${faults.drop}, delay ${faults.delay} (<= ${faults.maxDelayMs} ms)` +
    (schedule.queueBound !== undefined ? `; owners queue ${schedule.queueBound} at most` : '') +
    (changes.length > 0 ? `; ${changes.join(', ')}` : '')
  );
}

type Change = Exclude<SimEvent, { kind: 'publish' }>;

function describeChange(e: Change): string {
  if (e.kind === 'publisher-stop') return `${e.how} pub-${e.publisher}`;
  if (e.kind === 'publisher-start') return `restart pub-${e.publisher}`;
  return `${e.kind === 'leave' ? e.how : e.kind} ${e.node}`;
}
