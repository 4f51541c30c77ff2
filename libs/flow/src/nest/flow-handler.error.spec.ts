import { BadRequestException, HttpException } from '@nestjs/common';
import { RpcException } from '@nestjs/microservices';
import { FlowHandlerError, toFlowHandlerError } from './flow-handler.error';

describe('toFlowHandlerError', () => {
  it('maps an HttpException to HTTP_<status> with its body as details and its messages joined', () => {
    const exception = new BadRequestException(['amount must be positive', 'account must be a string']);
    const error = toFlowHandlerError(exception);
    expect(error).toBeInstanceOf(FlowHandlerError);
    expect(error).toMatchObject({
      code: 'HTTP_400',
      message: 'amount must be positive; account must be a string',
      details: exception.getResponse(),
    });
  });

  it('maps an RpcException to FLOW_RPC_ERROR with its error as details', () => {
    const exception = new RpcException('not allowed');
    expect(toFlowHandlerError(exception)).toMatchObject({
      code: 'FLOW_RPC_ERROR',
      message: 'not allowed',
      details: 'not allowed',
    });
  });

  it("takes code, message and details from a custom filter's output", () => {
    const output = { code: 'NO_FUNDS', message: 'balance too low', balance: 3 };
    expect(toFlowHandlerError(output)).toMatchObject({
      code: 'NO_FUNDS',
      message: 'balance too low',
      details: output,
    });
    expect(toFlowHandlerError({ message: 'denied' })).toMatchObject({
      code: 'FLOW_RPC_ERROR',
      message: 'denied',
    });
  });

  it('keeps the code and details of a thrown error, else uses FLOW_HANDLER_ERROR', () => {
    const coded = Object.assign(new Error('locked'), { code: 'E_LOCKED', details: { until: 5 } });
    expect(toFlowHandlerError(coded)).toMatchObject({ code: 'E_LOCKED', message: 'locked', details: { until: 5 } });
    expect(toFlowHandlerError(new Error('boom'))).toMatchObject({ code: 'FLOW_HANDLER_ERROR', message: 'boom' });
    expect(toFlowHandlerError('text')).toMatchObject({ code: 'FLOW_HANDLER_ERROR', message: 'text' });
  });

  it("keeps Nest's flattened output of a handler without FlowExceptionFilter as it is", () => {
    expect(toFlowHandlerError({ status: 'error', message: 'Internal server error' })).toMatchObject({
      code: 'FLOW_RPC_ERROR',
      message: 'Internal server error',
    });
  });

  it('passes a FlowHandlerError through unchanged', () => {
    const error = new FlowHandlerError('E_OWN', 'own', { details: [1] });
    expect(toFlowHandlerError(error)).toBe(error);
  });

  it('uses the HttpException message when its body has none', () => {
    const exception = new HttpException({ reason: 'teapot' }, 418);
    expect(toFlowHandlerError(exception)).toMatchObject({ code: 'HTTP_418', message: 'Http Exception', details: { reason: 'teapot' } });
  });
});
