/**
 * A Nest app on real NATS: it waits for a nats-server that starts after it
 * (connect.attempts), logs while waiting, fails fast on an unhandled stream,
 * and rejects publishes while the server is down, logging the outage.
 */
import { LoggerService } from '@nestjs/common';
import { Test, TestingModule } from '@nestjs/testing';
import { FlowClient, FlowModule } from 'nestjs-flow';
import { FlowBrokerHost } from '../libs/flow/src/nest/broker-host';
import { freePorts } from './harness/free-port';
import { startNatsServer, type NatsServer } from './harness/nats-server';
import { within } from './harness/within';
import { Recorder } from './support/nest/recorder';

class RecordingLogger implements LoggerService {
  readonly lines = new Recorder<string>();
  log(message: string): void {
    this.lines.push(`log ${message}`);
  }
  warn(message: string): void {
    this.lines.push(`warn ${message}`);
  }
  error(message: string): void {
    this.lines.push(`error ${message}`);
  }
  until(pattern: RegExp, timeoutMs: number): Promise<string[]> {
    return this.lines.untilTrue((lines) => lines.some((line) => pattern.test(line)), timeoutMs, String(pattern));
  }
}

describe('a Nest app started before its nats-server', () => {
  const logger = new RecordingLogger();
  let server: NatsServer | undefined;
  let moduleRef: TestingModule;
  let port: number;

  beforeAll(async () => {
    [port] = await freePorts(1);
    moduleRef = await Test.createTestingModule({
      imports: [
        FlowModule.forRoot({
          servers: `nats://127.0.0.1:${port}`,
          name: 'late-server-app',
          reconnect: { waitMs: 50 },
          connect: { attempts: 200, intervalMs: 50 },
          logger,
        }),
      ],
    }).compile();
  });

  afterAll(async () => {
    await moduleRef?.close();
    await server?.stop();
  });

  it('waits for NATS within connect.attempts, logging each failed attempt, then connects', async () => {
    const initialised = moduleRef.init();
    await logger.until(/^warn NATS not reachable \(attempt 2 of 200\)/, 10_000);
    server = await startNatsServer({ port });
    await within(initialised, 20_000, 'app init after the server started');
    const connected = logger.lines.entries.filter((line) => line.startsWith('log Connected'));
    expect(connected).toEqual([`log Connected: NATS nats://127.0.0.1:${port} as client "late-server-app"`]);
    expect(moduleRef.get(FlowBrokerHost).currentStatus).toBe('connected');
  });

  it('fails a request on a stream nobody handles with FLOW_NO_HANDLER within milliseconds', async () => {
    const started = Date.now();
    await expect(moduleRef.get(FlowClient).request('nobody.here', {}, { timeout: 30_000 })).rejects.toMatchObject({
      code: 'FLOW_NO_HANDLER',
    });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('rejects publish() with FLOW_TRANSPORT while the server is down, logs the outage, and publishes after the reconnect', async () => {
    const client = moduleRef.get(FlowClient);
    await server!.stop();
    await logger.until(/^warn Disconnected from NATS/, 10_000);
    await expect(client.publish('events', { n: 1 })).rejects.toMatchObject({ code: 'FLOW_TRANSPORT', name: 'TransportError' });
    await server!.restart();
    await logger.until(/^log Reconnected to NATS$/, 20_000);
    await expect(client.publish('events', { n: 2 })).resolves.toBeUndefined();
  });
});

describe('a Nest app whose nats-server never comes', () => {
  it('fails start-up after connect.attempts with FLOW_TRANSPORT', async () => {
    const [port] = await freePorts(1);
    const logger = new RecordingLogger();
    const moduleRef = await Test.createTestingModule({
      imports: [FlowModule.forRoot({ servers: `nats://127.0.0.1:${port}`, connect: { attempts: 3, intervalMs: 20 }, logger })],
    }).compile();
    const failure = await moduleRef.init().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toMatchObject({ code: 'FLOW_TRANSPORT' });
    expect(logger.lines.entries.filter((line) => line.startsWith('warn NATS not reachable'))).toHaveLength(2);
    // Nothing to close: no connection was ever opened (and Nest's close() would rethrow the init failure).
  });
});
