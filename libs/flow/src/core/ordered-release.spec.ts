import type { FlowError } from './errors';
import type { MsgPayload } from './frame';
import { keyFromString } from './key';
import { releaseInOrder } from './ordered-release';

const utf8 = new TextEncoder();
const text = new TextDecoder();

function message(key: string, n: number, reply = ''): MsgPayload {
  return { id: 0, reply, stream: 'orders', partitionKey: utf8.encode(key), data: utf8.encode(String(n)) };
}

const partitionOf = (msg: MsgPayload) => keyFromString(text.decode(msg.partitionKey));
const name = (msg: MsgPayload) => `${text.decode(msg.partitionKey)}:${text.decode(msg.data)}`;

describe('releaseInOrder', () => {
  it('routes a lane one message at a time, the next once the one before is accepted or settled; other lanes, keyless messages and requests at once', () => {
    const routed: MsgPayload[] = [];
    const told: string[] = [];
    const held = [message('a', 1), message('a', 2), message('b', 1), message('', 1), message('a', 3, 'reply-to'), message('a', 4)];
    for (const msg of held) {
      msg.accepted = () => told.push(`accepted ${name(msg)}`);
      msg.settle = (error?: FlowError) => told.push(`settled ${name(msg)}${error === undefined ? '' : ` ${error.code}`}`);
    }
    releaseInOrder(held, partitionOf, (msg) => routed.push(msg));
    expect(routed.map(name)).toEqual([':1', 'a:3', 'a:1', 'b:1']);

    routed[2].accepted!();
    expect(routed.map(name)).toEqual([':1', 'a:3', 'a:1', 'b:1', 'a:2']);
    // Settling after acceptance sends nothing more; the message's own callbacks run once each.
    routed[2].settle!();
    routed[4].settle!({ code: 'FLOW_OVERLOADED' } as FlowError);
    expect(routed.map(name)).toEqual([':1', 'a:3', 'a:1', 'b:1', 'a:2', 'a:4']);
    expect(told).toEqual(['accepted a:1', 'settled a:1', 'settled a:2 FLOW_OVERLOADED']);
  });

  it('sends a long lane whose messages settle within route() without recursing', () => {
    const held = Array.from({ length: 20_000 }, (_, n) => message('k', n));
    const order: number[] = [];
    releaseInOrder(held, partitionOf, (msg) => {
      order.push(Number(text.decode(msg.data)));
      msg.settle!();
    });
    expect(order).toHaveLength(20_000);
    expect(order.every((n, i) => n === i)).toBe(true);
  });

  it('keeps a lane waiting while its first message is neither accepted nor settled', () => {
    const routed: string[] = [];
    releaseInOrder([message('k', 1), message('k', 2)], partitionOf, (msg) => routed.push(name(msg)));
    expect(routed).toEqual(['k:1']);
  });
});
