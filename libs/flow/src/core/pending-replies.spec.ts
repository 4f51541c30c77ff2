import { ErrorCode, FlowError } from './errors';
import { FrameType } from './frame';
import { PendingReplies } from './pending-replies';
import type { PubSub } from './pubsub';
import { ManualClock } from '../testing/manual-clock';

const TIMEOUT = 1000;

/** A transport that only publishes requests, keeping their callbacks and counting the stops of their watches. */
function watchingTransport() {
  const requests: { subject: string; noResponders: () => void; refused?: (error: FlowError) => void; stops: number }[] = [];
  const pubsub = {
    publish: () => undefined,
    publishRequest: (subject: string, _data: Uint8Array, noResponders: () => void, _headers?: unknown, refused?: (error: FlowError) => void) => {
      const request = { subject, noResponders, refused, stops: 0 };
      requests.push(request);
      return () => request.stops++;
    },
  } as unknown as PubSub;
  return { pubsub, requests };
}

describe('PendingReplies', () => {
  it("stops the transport's watch of a request once, when its reply comes", async () => {
    const { pubsub, requests } = watchingTransport();
    const ended: number[] = [];
    const replies = new PendingReplies(new ManualClock(), 10, TIMEOUT, (id) => ended.push(Number(id)));
    const reply = replies.await(7, 'orders', TIMEOUT, undefined);
    replies.publish(pubsub, 7, 'orders', new Uint8Array([1]));
    expect(requests[0]!.stops).toBe(0);
    replies.onAck({ type: FrameType.Ack, id: 7, data: new Uint8Array([9]) });
    await expect(reply).resolves.toEqual(new Uint8Array([9]));
    expect(requests[0]!.stops).toBe(1);
    expect(ended).toEqual([7]);
  });

  it('stops the watch when the request times out, and ends it with FLOW_NO_HANDLER when nobody subscribes', async () => {
    const { pubsub, requests } = watchingTransport();
    const clock = new ManualClock();
    const replies = new PendingReplies(clock, 10, TIMEOUT, () => undefined);
    const timedOut = replies.await(1, 'orders', TIMEOUT, undefined);
    replies.publish(pubsub, 1, 'orders', new Uint8Array([1]));
    const unserved = replies.await(2, 'nobody', TIMEOUT, undefined);
    replies.publish(pubsub, 2, 'nobody', new Uint8Array([2]));
    requests[1]!.noResponders();
    await expect(unserved).rejects.toMatchObject({ code: ErrorCode.NoHandler });
    clock.advance(TIMEOUT);
    await expect(timedOut).rejects.toMatchObject({ code: ErrorCode.Timeout });
    expect(requests.map((r) => r.stops)).toEqual([1, 1]);
  });

  it('stops at once the watch of a request that ended before it was published', async () => {
    const { pubsub, requests } = watchingTransport();
    const replies = new PendingReplies(new ManualClock(), 10, TIMEOUT, () => undefined);
    const controller = new AbortController();
    const aborted = replies.await(3, 'orders', TIMEOUT, controller.signal);
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ code: ErrorCode.Aborted });
    replies.publish(pubsub, 3, 'orders', new Uint8Array([3]));
    expect(requests[0]!.stops).toBe(1);
  });
});
