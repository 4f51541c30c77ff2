import { EXCEPTION_FILTERS_METADATA } from '@nestjs/common/constants';
import { PatternHandler } from '@nestjs/microservices/enums/pattern-handler.enum';
import {
  PATTERN_EXTRAS_METADATA,
  PATTERN_HANDLER_METADATA,
  PATTERN_METADATA,
  TRANSPORT_METADATA,
} from '@nestjs/microservices/constants';
import { FLOW_TRANSPORT } from './flow.constants';
import { RequestHandler, StreamHandler } from './stream-handler.decorator';

class Handlers {
  @StreamHandler('orders')
  message(): void {}

  @StreamHandler('quotes', { request: true })
  requestByOption(): void {}

  @RequestHandler('balances', { raw: true })
  request(): void {}
}

function metadataOf(method: keyof Handlers) {
  const target = Handlers.prototype[method];
  return {
    patterns: Reflect.getMetadata(PATTERN_METADATA, target),
    handler: Reflect.getMetadata(PATTERN_HANDLER_METADATA, target),
    transport: Reflect.getMetadata(TRANSPORT_METADATA, target),
    extras: Reflect.getMetadata(PATTERN_EXTRAS_METADATA, target),
    filters: Reflect.getMetadata(EXCEPTION_FILTERS_METADATA, target),
  };
}

describe('@StreamHandler', () => {
  it('declares an event pattern on FLOW_TRANSPORT for a message stream', () => {
    expect(metadataOf('message')).toEqual({
      patterns: ['orders'],
      handler: PatternHandler.EVENT,
      transport: FLOW_TRANSPORT,
      extras: { flow: { kind: 'message', raw: false } },
      // No filter of Flow's own: method, controller and global filters apply as in Nest.
      filters: undefined,
    });
  });

  it('declares a message pattern (request/reply) with { request: true }', () => {
    expect(metadataOf('requestByOption')).toMatchObject({
      patterns: ['quotes'],
      handler: PatternHandler.MESSAGE,
      transport: FLOW_TRANSPORT,
      extras: { flow: { kind: 'request', raw: false } },
    });
  });

  it('declares a request stream with @RequestHandler, keeping other options', () => {
    expect(metadataOf('request')).toMatchObject({
      patterns: ['balances'],
      handler: PatternHandler.MESSAGE,
      extras: { flow: { kind: 'request', raw: true } },
    });
  });

  it.each([
    ['', {}, 'invalid option stream: must be a non-empty NATS subject without spaces or wildcards, received ""'],
    ['two words', {}, 'invalid option stream'],
    ['orders.*', {}, 'invalid option stream'],
    ['orders', { raw: 'yes' }, 'invalid option raw: must be a boolean, received "yes"'],
    ['orders', { request: 1 }, 'invalid option request: must be a boolean, received 1'],
  ])('rejects stream %j with options %j when the class is declared', (stream, options, message) => {
    expect(() => StreamHandler(stream, options as never)).toThrow(message);
  });
});
