import { Key, keyFromString } from './key';

const RING_SIZE = 1n << 64n;

/**
 * The ring positions of a broker with node key `nodeKey`.
 *
 * With one position the broker sits at its node key, exactly as in Go flow.
 * With `count` > 1 the ring is cut into `count` equal strata and position i
 * lies in stratum i, at an offset derived from the node key's text and i.
 * Deriving (rather than drawing) the positions means a broker restarted with
 * the same node key reclaims the same arcs; stratifying them trims the
 * spread of ownership shares a little compared with independent hashes
 * (bench/balance.bench.ts has the figures).
 *
 * The derivation is the same in every hash mode (it hashes 18 to 21 bytes, which
 * Go flow's variant reads in full), so any broker can work out another's positions
 * from its node key and count (capabilities.ts relies on this).
 */
export function ringPositions(nodeKey: Key, count: number): Key[] {
  if (count === 1) return [nodeKey];
  const width = RING_SIZE / BigInt(count);
  const positions: Key[] = [];
  for (let i = 0; i < count; i++) {
    const offset = keyFromString(`${nodeKey}/${i}`, 'go-flow').toBigInt() % width;
    const position = BigInt(i) * width + offset;
    positions.push(new Key(Number(position >> 32n), Number(position & 0xffffffffn)));
  }
  return positions;
}
