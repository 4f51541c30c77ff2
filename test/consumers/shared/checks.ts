import { deepStrictEqual, ok, strictEqual } from 'node:assert/strict';
import { FlowClient, RemoteError } from 'nestjs-flow';
import { FlowError, keyFromString } from 'nestjs-flow/core';
import { waitFor } from 'nestjs-flow/testing';
import type { Quote } from './orders.dto.js';
import { Probe } from './probe.js';

export interface Check {
  readonly name: string;
  readonly run: () => Promise<void>;
}

/** The consumer checks, in order; each throws an AssertionError naming what differed. */
export function consumerChecks(client: FlowClient, probe: Probe): Check[] {
  return [
    {
      name: 'keyed event reaches @StreamHandler with its partition key',
      run: async () => {
        await client.publish('orders.placed', { orderId: 'o-1', amount: 5 }, { key: 'acct-42' });
        await waitFor(() => probe.events.length > 0, { timeoutMs: 5000, what: 'the orders.placed handler' });
        const [seen] = probe.events;
        deepStrictEqual(seen.payload, { orderId: 'o-1', amount: 5 });
        strictEqual(seen.stream, 'orders.placed');
        strictEqual(seen.partitionKey, 'acct-42');
        strictEqual(seen.partition, keyFromString('acct-42').toString(), 'partition hash = keyFromString(key)');
        ok(seen.contextIsFlowContext, 'the handler context is a FlowContext');
      },
    },
    {
      name: 'keyed request answered through guard, ValidationPipe and interceptor',
      run: async () => {
        const quote = await client.request<Quote>(
          'orders.quote',
          { orderId: 'o-1', quantity: 3, tenant: 'acme' },
          { key: 'acct-42' },
        );
        deepStrictEqual(quote, {
          orderId: 'o-1',
          total: 30,
          dtoIsInstance: true,
          partitionKey: 'acct-42',
          stampedBy: 'StampInterceptor',
        });
        strictEqual(probe.guardCalls, 1, 'guard calls');
        strictEqual(probe.interceptorCalls, 1, 'interceptor calls');
      },
    },
    {
      name: 'invalid DTO rejected with RemoteError HTTP_400 and the validation messages',
      run: async () => {
        const error = await rejection(
          client.request('orders.quote', { orderId: '', quantity: -1, tenant: 'acme' }, { key: 'acct-42' }),
        );
        ok(error instanceof RemoteError, `expected a RemoteError, got ${describe(error)}`);
        ok(error instanceof FlowError, 'RemoteError from nestjs-flow is a FlowError from nestjs-flow/core');
        strictEqual(error.code, 'HTTP_400');
        const messages = (error.details as { message?: unknown } | undefined)?.message;
        ok(Array.isArray(messages), `details.message is the list of validation messages: ${JSON.stringify(error.details)}`);
        ok(messages.includes('orderId should not be empty'), `messages: ${JSON.stringify(messages)}`);
        ok(messages.includes('quantity must be a positive number'), `messages: ${JSON.stringify(messages)}`);
        strictEqual(probe.interceptorCalls, 2, 'the interceptor ran, the handler did not reply');
      },
    },
    {
      name: 'guard refusal reaches the requester as HTTP_403',
      run: async () => {
        const error = await rejection(
          client.request('orders.quote', { orderId: 'o-2', quantity: 1, tenant: 'other' }, { key: 'acct-7' }),
        );
        ok(error instanceof RemoteError, `expected a RemoteError, got ${describe(error)}`);
        strictEqual(error.code, 'HTTP_403');
        strictEqual(error.message, 'tenant other may not ask for quotes');
        strictEqual(probe.guardCalls, 3, 'guard calls');
        strictEqual(probe.interceptorCalls, 2, 'the interceptor did not run after the guard refused');
      },
    },
    {
      name: 'global exception filter (useGlobalFilters) shapes a custom error',
      run: async () => {
        const error = await rejection(client.request('orders.cancel', { orderId: 'o-3' }, { key: 'acct-42' }));
        ok(error instanceof RemoteError, `expected a RemoteError, got ${describe(error)}`);
        strictEqual(error.code, 'ORDER_LOCKED_BY_GLOBAL_FILTER');
        strictEqual(error.message, 'global filter: order o-3 is locked');
        strictEqual(probe.filterCalls, 1, 'global filter calls');
      },
    },
  ];
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  const outcome = await promise.then(
    (value: unknown) => ({ rejected: false, value }),
    (error: unknown) => ({ rejected: true, value: error }),
  );
  if (!outcome.rejected) throw new Error(`expected a rejection, got the reply ${JSON.stringify(outcome.value)}`);
  return outcome.value;
}

function describe(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  return JSON.stringify(value);
}
