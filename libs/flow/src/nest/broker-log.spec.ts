import { Controller, LoggerService, UseFilters } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { MemoryBus, MemoryPubSub } from '../core';
import { closeAll, FlowTestApp, RECORDER, Recorder, startFlowApp } from '../../test/flow-apps';
import { FlowContext } from './flow.context';
import { resolveFlowModuleOptions } from './flow.options';
import { RequestHandler, StreamHandler } from './stream-handler.decorator';
import { FlowExceptionFilter } from './flow-exception.filter';

interface Line {
  readonly level: 'log' | 'warn' | 'error' | 'debug';
  readonly message: string;
  readonly context: unknown;
}

/** A LoggerService that keeps every line; `until` awaits one that matches. */
class RecordingLogger implements LoggerService {
  readonly lines = new Recorder<Line>();
  log(message: string, context?: unknown): void {
    this.lines.push({ level: 'log', message, context });
  }
  warn(message: string, context?: unknown): void {
    this.lines.push({ level: 'warn', message, context });
  }
  error(message: string, context?: unknown): void {
    this.lines.push({ level: 'error', message, context });
  }
  debug(message: string, context?: unknown): void {
    this.lines.push({ level: 'debug', message, context });
  }
  matching(pattern: RegExp): Line[] {
    return this.lines.entries.filter((line) => pattern.test(line.message));
  }
  /** Resolves once `count` lines match `pattern` (bounded by the Recorder's wait). */
  async until(pattern: RegExp, count = 1): Promise<Line[]> {
    for (;;) {
      const found = this.matching(pattern);
      if (found.length >= count) return found;
      await this.lines.until(this.lines.entries.length + 1);
    }
  }
}

@Controller()
@UseFilters(FlowExceptionFilter)
class OrdersController {
  constructor() {}

  @StreamHandler('orders')
  order(@Payload() order: { fail?: boolean }, @Ctx() _ctx: FlowContext): void {
    if (order.fail === true) throw new Error('order rejected by the handler');
  }

  @RequestHandler('quote')
  quote(): number {
    return 42;
  }
}

describe('Flow logs through a Nest LoggerService', () => {
  const bus = new MemoryBus();
  const first = new RecordingLogger();
  const second = new RecordingLogger();
  let apps: FlowTestApp[] = [];

  beforeAll(async () => {
    apps.push(await startFlowApp({ bus, name: 'log-1', controllers: [OrdersController], flow: { logger: first } }));
    await bus.idle();
    apps.push(await startFlowApp({ bus, name: 'log-2', controllers: [OrdersController], flow: { logger: second } }));
    await bus.idle();
  });

  afterAll(() => closeAll(apps));

  it('says which transport it connected to and that it joined, with node key, name, positions and ring size, in context Flow', () => {
    const [connected] = first.matching(/^Connected:/);
    expect(connected).toEqual({
      level: 'log',
      message: 'Connected: no NATS servers or connection configured: the embedded in-memory transport (this process only)',
      context: 'Flow',
    });
    const key = apps[0].broker.nodeKey.toString();
    expect(first.matching(/^Joined/).map((l) => l.message)).toEqual([
      `Joined clique "_global" as node ${key} (log-1) with 8 ring positions; ring size 8`,
    ]);
  });

  it('summarises the ring positions of a joining broker in one line, not a line per position', async () => {
    const lines = await first.until(/^Ring changed/);
    expect(lines.map((l) => l.message)).toEqual(['Ring changed: 8 positions joined; ring size 16']);
  });

  it('logs a disconnect as a warning and the reconnect, once each', async () => {
    const connection = apps[1].host.transport as MemoryPubSub;
    connection.disconnect();
    connection.reconnect();
    await second.until(/^Reconnected/);
    expect(second.matching(/Disconnected from NATS: .*no handler starts/).map((l) => l.level)).toEqual(['warn']);
    expect(second.matching(/^Reconnected to NATS$/)).toHaveLength(1);
    expect(second.matching(/^Reconnecting/).map((l) => l.level)).toEqual(['debug']);
  });

  /** The logger of whichever app logged a line matching `pattern` first (an unkeyed message runs where it arrives). */
  async function loggerOf(pattern: RegExp): Promise<RecordingLogger> {
    await Promise.race([first.until(pattern), second.until(pattern)]);
    return first.matching(pattern).length > 0 ? first : second;
  }

  it('logs a transport that closed on its own as an error', async () => {
    const spare = new RecordingLogger();
    const app = await startFlowApp({ bus, name: 'log-closing', flow: { logger: spare } });
    await app.host.transport!.close();
    expect(spare.matching(/^NATS connection closed/).map((l) => l.level)).toEqual(['error']);
    await app.app.close();
    expect(spare.matching(/^NATS connection closed/)).toHaveLength(1);
  });

  it('logs a handler failure as one error line, with its stack only at debug level', async () => {
    await apps[1].client.publish('orders', { fail: true });
    const logger = await loggerOf(/FLOW_HANDLER_ERROR/);
    const lines = logger.matching(/FLOW_HANDLER_ERROR/);
    expect(lines.map((l) => l.level)).toEqual(['error']);
    expect(lines[0].message).toContain('order rejected by the handler');
    expect(lines[0].message).not.toContain('\n');
    expect(logger.matching(/^Error: order rejected by the handler\n\s+at /).map((l) => l.level)).toEqual(['debug']);
  });

  it('logs malformed network input as one error line, without a stack at any level', async () => {
    const debugBefore = [first, second].map((l) => l.lines.entries.filter((e) => e.level === 'debug').length);
    apps[1].host.transport!.publish('orders', new Uint8Array([0, 0, 0, 9, 1, 2]));
    const logger = await loggerOf(/FLOW_CODEC/);
    const lines = logger.matching(/FLOW_CODEC/);
    expect(lines.map((l) => l.level)).toEqual(['error']);
    expect(lines[0].message).not.toContain('\n');
    const debugAfter = [first, second].map((l) => l.lines.entries.filter((e) => e.level === 'debug').length);
    expect(debugAfter).toEqual(debugBefore);
  });

  it('logs the shutdown phases, and the others see the positions leave in one line', async () => {
    const leaving = apps.pop()!;
    await leaving.app.close();
    expect(second.matching(/^Shutting down|^Shut down/).map((l) => l.message)).toEqual([
      'Shutting down: leaving the ring; waiting up to 10000 ms for 0 in-flight handler(s)',
      'Shut down: left the ring, transport closed',
    ]);
    expect(second.matching(/^NATS connection closed/)).toEqual([]);
    const left = await first.until(/^Ring changed: 8 positions left/);
    expect(left.map((l) => l.message)).toEqual(['Ring changed: 8 positions left; ring size 8']);
  });
});

describe('logger, connect and keys options', () => {
  it('accept false and a LoggerService, and reject anything else naming the option', () => {
    expect(resolveFlowModuleOptions({ logger: false }).logger).toBe(false);
    const logger = new RecordingLogger();
    expect(resolveFlowModuleOptions({ logger }).logger).toBe(logger);
    expect(() => resolveFlowModuleOptions({ logger: {} as never })).toThrow(/invalid option logger: must be false or a Nest LoggerService/);
  });

  it('validate connect: only with servers, attempts and intervalMs within bounds', () => {
    const resolved = resolveFlowModuleOptions({ servers: 'nats://127.0.0.1:4222', connect: { attempts: 30, intervalMs: 200 } });
    expect(resolved.transport).toMatchObject({ kind: 'servers', connect: { attempts: 30, intervalMs: 200 } });
    expect(resolveFlowModuleOptions({ servers: 'nats://127.0.0.1:4222' }).transport).toMatchObject({
      connect: { attempts: 1, intervalMs: 1000 },
    });
    expect(() => resolveFlowModuleOptions({ connect: { attempts: 3 } })).toThrow(/invalid option connect: applies only with servers/);
    expect(() => resolveFlowModuleOptions({ servers: 'nats://127.0.0.1:4222', connect: { attempts: 0 } })).toThrow(
      /invalid option connect.attempts: must be an integer from 1 to 1000000, received 0/,
    );
    expect(() => resolveFlowModuleOptions({ servers: 'nats://127.0.0.1:4222', connect: { intervalMs: 1.5 } })).toThrow(
      /invalid option connect.intervalMs/,
    );
  });

  it('validate keys: an object of functions', () => {
    expect(() => resolveFlowModuleOptions({ keys: { orders: 'customer' as never } })).toThrow(
      /invalid option keys.orders: must be a function/,
    );
    expect(resolveFlowModuleOptions({ keys: { orders: () => 'k' } }).keys.has('orders')).toBe(true);
  });

  it('validate reconnectBuffer', () => {
    expect(resolveFlowModuleOptions({ reconnectBuffer: 100 }).broker.reconnectBuffer).toBe(100);
    expect(() => resolveFlowModuleOptions({ reconnectBuffer: -1 })).toThrow(/invalid option reconnectBuffer/);
  });
});

describe('keys: the publisher derives partition keys per stream', () => {
  const bus = new MemoryBus();
  const seen = new Recorder<{ key: string; customer: string }>();
  let apps: FlowTestApp[] = [];

  @Controller()
  class KeyedController {
    @StreamHandler('payments')
    pay(@Payload() payment: { customer: string }, @Ctx() ctx: FlowContext): void {
      seen.push({ key: ctx.getPartitionKey(), customer: payment.customer });
    }
  }

  beforeAll(async () => {
    apps.push(await startFlowApp({ bus, name: 'keyed-1', controllers: [KeyedController], flow: { logger: false } }));
    apps.push(
      await startFlowApp({
        bus,
        name: 'keyed-publisher',
        flow: { logger: false, keys: { payments: (p) => (p as { customer: string }).customer, bad: () => 7 as never } },
        providers: [{ provide: RECORDER, useValue: seen }],
      }),
    );
  });

  afterAll(() => closeAll(apps));

  it('keys a payload with the stream function when no key is given; an explicit key wins', async () => {
    await apps[1].client.publish('payments', { customer: 'c-7' });
    await apps[1].client.publish('payments', { customer: 'c-8' }, { key: 'explicit' });
    const entries = await seen.until(2);
    expect([...entries].sort((a, b) => a.customer.localeCompare(b.customer))).toEqual([
      { key: 'c-7', customer: 'c-7' },
      { key: 'explicit', customer: 'c-8' },
    ]);
  });

  it('rejects a key function that returns neither a string nor bytes, naming it', async () => {
    await expect(apps[1].client.publish('bad', {})).rejects.toMatchObject({ code: 'FLOW_INVALID_OPTION', option: 'keys.bad' });
  });
});
