import type { FlowError } from '../src/core/errors';

/** The error `promise` rejects with; fails the test when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<FlowError> {
  try {
    await promise;
  } catch (error) {
    return error as FlowError;
  }
  throw new Error('expected a rejection, the promise resolved');
}
