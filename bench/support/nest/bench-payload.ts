import type { BenchPayload } from './bench-ipc';

/**
 * Builds payloads whose JSON is exactly `bytes` long: `{"seq":<n>,"body":"xxx..."}`,
 * the body padded for the digits of each sequence number. A fresh object per
 * message, as an app would build one; the bodies are shared strings.
 */
export class BenchPayloads {
  readonly #bodies: string[] = [];

  constructor(readonly bytes: number) {
    for (let digits = 1; digits <= 16; digits++) {
      const overhead = JSON.stringify({ seq: 10 ** (digits - 1), body: '' }).length;
      this.#bodies.push('x'.repeat(Math.max(bytes - overhead, 0)));
    }
  }

  payload(seq: number): BenchPayload {
    return { seq, body: this.#bodies[String(seq).length - 1]! };
  }
}
