import type { Broker } from '../src/core/broker';
import { decodeFrame, FrameType } from '../src/core/frame';
import type { BusDelivery } from '../src/core/memory-exchange';
import { readNotice, readPublishFlags } from '../src/core/publish-wire';

/** A key (`<prefix>-<n>`) whose owner, in `view`'s ring, is one of `broker`'s positions. */
export function keyOwnedBy(broker: Broker, view: Broker, prefix = 'key'): string {
  const [key] = keysOwnedBy(broker, view, 1, prefix);
  if (key === undefined) throw new Error(`no key owned by ${broker.nodeKey}`);
  return key;
}

/** Up to `count` keys (`<prefix>-<n>`, n < 10,000) whose owner, in `view`'s ring, is one of `broker`'s positions. */
export function keysOwnedBy(broker: Broker, view: Broker, count: number, prefix = 'key'): string[] {
  const positions = new Set(broker.snapshot().positions.map(String));
  const keys: string[] = [];
  for (let n = 0; keys.length < count && n < 10_000; n++) if (positions.has(String(view.ownerOf(`${prefix}-${n}`)))) keys.push(`${prefix}-${n}`);
  return keys;
}

/** What a delivery on the bus is: a message on one of `streams`, or the type of a frame (with publish trailers). */
export function deliveryKind(delivery: BusDelivery, streams: readonly string[] = ['orders']): string {
  if (streams.includes(delivery.subject)) return `stream:${delivery.subject}`;
  const frame = decodeFrame(delivery.data);
  if (frame.type === FrameType.Fwd && readPublishFlags(delivery.data) !== undefined) return 'FWD+flags';
  if (frame.type === FrameType.Ack && readNotice(delivery.data) !== undefined) return 'ACK+notice';
  return frame.type;
}
