import { Logger } from '@nestjs/common';
import { FlowError, TimeoutError } from 'nestjs-flow';
import { FlowErrorTally } from './flow-error-tally';

describe('FlowErrorTally', () => {
  let warn: jest.SpyInstance;

  beforeEach(() => {
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterEach(() => warn.mockRestore());

  it('counts errors by code and keeps the latest of each', () => {
    const tally = new FlowErrorTally('ledger-1');
    const last = new FlowError('HTTP_400', 'amount must be a positive number');
    tally.record(new FlowError('HTTP_400', 'accountId must match'));
    tally.record(last);
    tally.record(new TimeoutError('forward', 500, 'ledger.deposit'));

    expect(tally.rejected).toBe(2);
    expect(tally.total).toBe(3);
    expect(tally.counts()).toEqual({ HTTP_400: 2, FLOW_TIMEOUT: 1 });
    expect(tally.latest('HTTP_400')).toBe(last);
  });

  it('warns about the first error of each code but never about rejected commands', () => {
    const tally = new FlowErrorTally('ledger-1');
    for (let i = 0; i < 3; i++) {
      tally.record(new FlowError('HTTP_400', 'invalid'));
      tally.record(new FlowError('FLOW_OVERLOADED', 'maxQueuedMessages limit of 10 reached'));
    }

    expect(warn.mock.calls).toEqual([['FLOW_OVERLOADED: maxQueuedMessages limit of 10 reached']]);
  });

  it('can be passed as onError on its own, and tells listeners until they unsubscribe', () => {
    const tally = new FlowErrorTally('ledger-1');
    const onError = tally.record;
    let calls = 0;
    const off = tally.onChange(() => calls++);
    onError(new FlowError('HTTP_400', 'invalid'));
    off();
    onError(new FlowError('HTTP_400', 'invalid'));

    expect(calls).toBe(1);
    expect(tally.rejected).toBe(2);
  });
});
