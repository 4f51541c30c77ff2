import type { Delivery } from '../src/core/broker';
import { createMemoryClique, MemoryClique } from '../src/testing/clique';
import { chainKey } from './ownership-probes';
import { Gate } from './gate';

const text = new TextDecoder();

/**
 * What each broker ran, in order (spec-only): `<broker> start|end <payload>`
 * as UTF-8 text; a payload with a gate waits for it between start and end.
 */
export class Journal {
  readonly lines: string[] = [];
  readonly gates = new Map<string, Gate>();

  /** A handler for broker `name` that journals what it runs. */
  handler(name: string) {
    return async (delivery: Delivery): Promise<void> => {
      const payload = text.decode(delivery.data);
      this.lines.push(`${name} start ${payload}`);
      await this.gates.get(payload)?.opened;
      this.lines.push(`${name} end ${payload}`);
    };
  }

  /** A gate that holds the handler of `payload` between its start and end until opened. */
  gate(payload: string): Gate {
    const gate = new Gate();
    this.gates.set(payload, gate);
    return gate;
  }
}

/**
 * Three journaled brokers x, y, z handling 'orders' (8 virtual nodes, no
 * stabilization); a key owned by x, by y once x left, by z once y left too;
 * its message m1 published by z and running on x until `gate` opens.
 */
export async function chainOfThree() {
  const journal = new Journal();
  const clique: MemoryClique = await createMemoryClique({
    size: 3,
    options: { virtualNodes: 8, stabilization: { interval: 0 } },
    setup: (broker, i) => broker.handle('orders', journal.handler(`b${i}`)),
  });
  const [x, y, z] = clique.brokers;
  const key = chainKey(x, y, z);
  const gate = journal.gate('m1');
  await z.publish('orders', new TextEncoder().encode('m1'), { key });
  await clique.bus.idle();
  return { clique, journal, x, y, z, key, gate, bus: clique.bus };
}
