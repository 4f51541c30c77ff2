import { Controller, Inject } from '@nestjs/common';
import { Payload, RpcException } from '@nestjs/microservices';
import { throwError } from 'rxjs';
import { FlowError, MemoryBus } from '../core';
import { closeAll, FlowTestApp, RECORDER, Recorder, startFlowApp } from '../../test/flow-apps';
import { StreamHandler } from './stream-handler.decorator';

@Controller()
class FailingController {
  constructor(@Inject(RECORDER) private readonly recorder: Recorder<number>) {}

  /** seq 0 throws, 1 rejects, 2 returns an Observable that errors; the others are handled. */
  @StreamHandler('fails')
  handle(@Payload() payload: { seq: number }): unknown {
    const { seq } = payload;
    if (seq === 0) throw new RpcException(`boom-${seq}`);
    if (seq === 1) return Promise.reject(new RpcException(`boom-${seq}`));
    if (seq === 2) return throwError(() => new RpcException(`boom-${seq}`));
    this.recorder.push(seq);
    return undefined;
  }
}

describe('FlowServer: a failing event handler', () => {
  const bus = new MemoryBus();
  const recorder = new Recorder<number>();
  let app: FlowTestApp;
  let publisher: FlowTestApp;

  beforeAll(async () => {
    app = await startFlowApp({ bus, name: 'only', controllers: [FailingController], providers: [{ provide: RECORDER, useValue: recorder }] });
    publisher = await startFlowApp({ bus, name: 'publisher' });
    await bus.idle();
  });

  afterAll(() => closeAll([app, publisher]));

  it('is reported with its stream and error, however it fails, and the key goes on', async () => {
    const errors: FlowError[] = [];
    app.broker.on('error', (error) => errors.push(error));
    for (let seq = 0; seq < 5; seq++) await publisher.client.publish('fails', { seq }, { key: 'one-key' });
    expect(await recorder.until(2)).toEqual([3, 4]);
    await bus.idle();
    expect(errors.map((error) => [error.code, error.message])).toEqual(
      [0, 1, 2].map((seq) => ['FLOW_RPC_ERROR', `handler of stream "fails" failed: boom-${seq}`]),
    );
  });

  it('is reported when its payload cannot be read, before the handler runs, and the key goes on', async () => {
    const errors: FlowError[] = [];
    app.broker.on('error', (error) => errors.push(error));
    await publisher.client.publish('fails', new Uint8Array([0xff, 0xfe]), { key: 'one-key' });
    await publisher.client.publish('fails', { seq: 5 }, { key: 'one-key' });
    expect(await recorder.until(3)).toEqual([3, 4, 5]);
    await bus.idle();
    expect(errors.map((error) => error.code)).toEqual(['FLOW_CODEC']);
    expect(errors[0].message).toMatch(/^handler of stream "fails" failed: .*not UTF-8 JSON/);
  });
});
