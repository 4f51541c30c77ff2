import type { Delivery } from '../src/core/broker';
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
