import { ManualClock } from '../testing/manual-clock';
import { ErrorReporter } from './error-reporter';
import { FlowError, ProtocolError } from './errors';

function setup(intervalMs = 1_000) {
  const clock = new ManualClock();
  const seen: FlowError[] = [];
  const reporter = new ErrorReporter(clock, intervalMs, (error) => seen.push(error));
  return { clock, seen, reporter };
}

const bad = (n: number) => new ProtocolError('MSG', `bad ${n}`);

describe('ErrorReporter', () => {
  it('reports the first error of a kind at once and one summary with the count at the end of the interval', () => {
    const { clock, seen, reporter } = setup();
    for (let i = 0; i < 1_000; i++) reporter.report('FLOW_PROTOCOL:frame', bad(i));
    expect(seen.map((e) => e.message)).toEqual(['malformed MSG: bad 0']);
    expect(reporter.suppressed).toBe(999);

    clock.advance(999);
    expect(seen).toHaveLength(1);
    clock.advance(1);
    expect(seen).toHaveLength(2);
    expect(seen[1].code).toBe('FLOW_PROTOCOL');
    expect(seen[1].message).toBe('999 more like this suppressed within 1000 ms; the last: malformed MSG: bad 999');
    expect(seen[1].cause).toBeInstanceOf(ProtocolError);
    expect(reporter.suppressed).toBe(0);
  });

  it('sends at most one summary per interval while errors keep coming', () => {
    const { clock, seen, reporter } = setup();
    for (let ms = 0; ms < 10_000; ms += 10) {
      reporter.report('k', bad(ms));
      clock.advance(10);
    }
    // One at once, then one summary per elapsed interval.
    expect(seen.length).toBeGreaterThanOrEqual(10);
    expect(seen.length).toBeLessThanOrEqual(11);
    const summarized = seen.slice(1).map((e) => Number(/^(\d+) more/.exec(e.message)![1]));
    expect(1 + summarized.reduce((a, b) => a + b, 0) + reporter.suppressed).toBe(1_000);
  });

  it('keeps kinds apart and reports a kind again at once after a quiet interval', () => {
    const { clock, seen, reporter } = setup();
    reporter.report('a', bad(1));
    reporter.report('b', bad(2));
    expect(seen).toHaveLength(2);
    clock.advance(1_000);
    expect(seen).toHaveLength(2);
    reporter.report('a', bad(3));
    expect(seen.map((e) => e.message)).toEqual(['malformed MSG: bad 1', 'malformed MSG: bad 2', 'malformed MSG: bad 3']);
    expect(clock.pending).toBe(0);
  });

  it('folds kinds beyond its bound into one, so distinct kinds cannot grow it without limit', () => {
    const { seen, reporter } = setup();
    for (let i = 0; i < 10_000; i++) reporter.report(`kind-${i}`, bad(i));
    expect(seen).toHaveLength(257);
    expect(reporter.suppressed).toBe(10_000 - 257);
  });

  it('sends pending summaries and leaves no timer behind on stop', () => {
    const { clock, seen, reporter } = setup();
    reporter.report('a', bad(1));
    reporter.report('a', bad(2));
    reporter.stop();
    expect(seen.map((e) => e.message)[1]).toMatch(/^1 more like this/);
    expect(clock.pending).toBe(0);
    reporter.stop();
    expect(seen).toHaveLength(2);
    reporter.report('a', bad(3));
    expect(seen).toHaveLength(3);
    expect(clock.pending).toBe(0);
  });
});
