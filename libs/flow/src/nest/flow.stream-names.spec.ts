import { Controller } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { MemoryBus } from '../core';
import { closeAll, FlowTestApp, startFlowApp } from '../../test/flow-apps';
import { RequestHandler } from './stream-handler.decorator';

@Controller()
class InteropController {
  @RequestHandler('interop.events')
  events(@Payload() payload: { n: number }) {
    return { n: payload.n + 1 };
  }
}

@Controller()
class NodeSubjectController {
  @RequestHandler('interop.0123456789abcdef')
  clash(): void {
    return undefined;
  }
}

describe('stream names below the clique subject', () => {
  const bus = new MemoryBus();
  const apps: FlowTestApp[] = [];
  afterAll(() => closeAll(apps));

  it('serves a handler on interop.events in clique interop, as Go flow does', async () => {
    apps.push(await startFlowApp({ bus, name: 'interop-1', controllers: [InteropController], flow: { clique: 'interop' } }));
    const publisher = await startFlowApp({ bus, name: 'interop-publisher', flow: { clique: 'interop' } });
    apps.push(publisher);
    await expect(publisher.client.request('interop.events', { n: 41 }, { key: 'k' })).resolves.toEqual({ n: 42 });
  });

  it('refuses a handler whose stream has the form of a node subject of its clique, naming the stream', async () => {
    await expect(
      startFlowApp({ bus, name: 'interop-2', controllers: [NodeSubjectController], flow: { clique: 'interop' } }),
    ).rejects.toMatchObject({ code: 'FLOW_INVALID_OPTION', option: 'stream', value: 'interop.0123456789abcdef' });
  });
});
