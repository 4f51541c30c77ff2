import type { PubSubHandler } from 'nestjs-flow/core';
import { within } from './within';

export interface ReceivedMessage {
  readonly subject: string;
  readonly data: Uint8Array;
}

/** Records what a subscription receives and lets a test await a number of messages. */
export class Inbox {
  readonly messages: ReceivedMessage[] = [];
  private readonly waiters: { count: number; resolve: () => void }[] = [];

  readonly handler: PubSubHandler = (subject, data) => {
    this.messages.push({ subject, data });
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const waiter = this.waiters[i]!;
      if (this.messages.length >= waiter.count) {
        this.waiters.splice(i, 1);
        waiter.resolve();
      }
    }
  };

  /** Resolves once `count` messages in all have arrived; rejects after `timeoutMs`. */
  async waitFor(count: number, timeoutMs = 10_000): Promise<ReceivedMessage[]> {
    if (this.messages.length < count) {
      const arrived = new Promise<void>((resolve) => this.waiters.push({ count, resolve }));
      await within(arrived, timeoutMs, `${count} messages (got ${this.messages.length})`).catch((error: Error) => {
        throw new Error(`${error.message}; received ${this.messages.length}`);
      });
    }
    return this.messages;
  }

  texts(): string[] {
    return this.messages.map((m) => new TextDecoder().decode(m.data));
  }
}
