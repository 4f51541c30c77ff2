/**
 * A script as a user would write it: one broker on the embedded bus sends a
 * request and prints how it ended. Mode `no-handler`: nobody handles the
 * stream. Mode `silent`: a handler that never answers, so only the timeout
 * ends the request. The process must live until the request settles.
 */
import { Broker, MemoryBus } from '../../src/core';

async function main(mode: string): Promise<void> {
  const bus = new MemoryBus();
  const broker = new Broker(bus.connect(), { requestTimeout: 300, virtualNodes: 1 });
  if (mode === 'silent') await broker.handleRequest('silent.stream', () => new Promise<Uint8Array>(() => undefined));
  await broker.start();
  const stream = mode === 'silent' ? 'silent.stream' : 'no.such.stream';
  try {
    await broker.request(stream, new Uint8Array([1]));
    process.stdout.write('resolved\n');
  } catch (error) {
    process.stdout.write(`rejected ${(error as { code?: string }).code}\n`);
  }
}

void main(process.argv[2] ?? 'no-handler');
