import type { Broker } from '../src/core/broker';
import { decodeFrame, FrameType } from '../src/core/frame';
import type { BusDelivery } from '../src/core/memory-exchange';
import { keyFromBytes } from '../src/core/key';
import { readNotice, readPublishFlags } from '../src/core/publish-wire';
import { ringPositions } from '../src/core/virtual-nodes';

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

const utf8 = new TextEncoder();

/** `broker`'s ring positions, as text. */
export function positionsOf(broker: Broker): Set<string> {
  return new Set(broker.snapshot().positions.map(String));
}

/** The first key (key-0, key-1, ...) that `test` accepts; fails the spec when none of 10,000 does. */
export function findKey(test: (key: string) => boolean): string {
  for (let n = 0; n < 10_000; n++) if (test(`key-${n}`)) return `key-${n}`;
  throw new Error('no such key among 10,000');
}

/** The successor of `key`'s hash among `members` (16-hex position texts), as the ring picks it. */
export function ownerOn(key: string, view: Broker, members: string[]): string {
  const sorted = members.map((m) => BigInt(`0x${m}`)).sort((p, q) => (p < q ? -1 : p > q ? 1 : 0));
  const hash = keyFromBytes(utf8.encode(key), view.options.partitionHash).toBigInt();
  const owner = sorted.find((p) => p >= hash) ?? sorted[0];
  return owner.toString(16).padStart(16, '0');
}

/** The owner of `key` in `view`'s ring without the positions of `without`. */
export function ownerWithout(key: string, view: Broker, without: Broker): string {
  const gone = positionsOf(without);
  return ownerOn(key, view, view.snapshot().members.map(String).filter((m) => !gone.has(m)));
}

/** The owner of `key` on the ring of `a` and `b` together (b not started yet: its positions from its node key). */
export function ownerAmong(key: string, a: Broker, b: Broker): string {
  return ownerOn(key, a, [...a.snapshot().positions, ...ringPositions(b.nodeKey, b.options.virtualNodes)].map(String));
}

/** A key owned by `x`; once x left, by `y`; once y left too, by `z` (a chain of moves, by `z`'s ring). */
export function chainKey(x: Broker, y: Broker, z: Broker): string {
  return findKey((k) => positionsOf(x).has(String(z.ownerOf(k))) && positionsOf(y).has(ownerWithout(k, z, x)));
}
