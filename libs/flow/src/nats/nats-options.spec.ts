import { InvalidOptionError } from '../core/errors';
import { NATS_DEFAULTS, resolveNatsOptions, resolveNatsPubSubOptions, type NatsOptions } from './nats-options';

function rejection(options: unknown, resolve = resolveNatsOptions as (o: unknown) => unknown): InvalidOptionError {
  try {
    resolve(options);
  } catch (error) {
    if (error instanceof InvalidOptionError) return error;
    throw error;
  }
  throw new Error(`options were accepted: ${JSON.stringify(options)}`);
}

describe('resolveNatsOptions', () => {
  it('completes minimal options with the documented defaults and freezes the result', () => {
    const resolved = resolveNatsOptions({ servers: 'nats://127.0.0.1:4222' });

    expect(resolved).toMatchObject({
      servers: ['nats://127.0.0.1:4222'],
      name: undefined,
      tls: undefined,
      user: undefined,
      pass: undefined,
      token: undefined,
      reconnect: { maxAttempts: -1, waitMs: 2000 },
      pingIntervalMs: undefined,
      drainTimeoutMs: 10_000,
    });
    expect(resolved.onError).toBe(NATS_DEFAULTS.onError);
    expect(Object.isFrozen(resolved)).toBe(true);
    expect(Object.isFrozen(resolved.servers)).toBe(true);
    expect(Object.isFrozen(resolved.reconnect)).toBe(true);
  });

  it('splits a comma-separated server string and trims each entry', () => {
    const resolved = resolveNatsOptions({ servers: ' nats://127.0.0.1:4222, 127.0.0.1:4223 ,tls://a.example:4443' });

    expect(resolved.servers).toEqual(['nats://127.0.0.1:4222', '127.0.0.1:4223', 'tls://a.example:4443']);
  });

  it('accepts a list of servers and does not keep the caller array', () => {
    const servers = ['nats://127.0.0.1:4222', 'nats://127.0.0.1:4223'];
    const resolved = resolveNatsOptions({ servers });
    servers.push('nats://127.0.0.1:4224');

    expect(resolved.servers).toEqual(['nats://127.0.0.1:4222', 'nats://127.0.0.1:4223']);
  });

  it.each([
    ['missing', undefined, 'servers'],
    ['a number', 4222, 'servers'],
    ['an empty list', [], 'servers'],
    ['an empty string', '', 'servers'],
    ['an empty entry between commas', 'nats://a:1,,nats://b:2', 'servers'],
    ['a URL with a space', 'nats://a b:4222', 'servers'],
    ['an http URL', 'http://127.0.0.1:4222', 'servers'],
    ['a port out of range', 'nats://127.0.0.1:70000', 'servers'],
    ['a non-string list entry', ['nats://127.0.0.1:4222', 7], 'servers[1]'],
  ])('rejects servers that are %s, naming the option', (_case, servers, option) => {
    const error = rejection({ servers });

    expect(error.option).toBe(option);
    expect(error.code).toBe('FLOW_INVALID_OPTION');
    expect(error.message).toContain(`invalid option ${option}`);
  });

  it('names the value it received in the message', () => {
    expect(rejection({ servers: 'http://127.0.0.1:4222' }).message).toContain('received "http://127.0.0.1:4222"');
  });

  it('accepts user and pass together', () => {
    const resolved = resolveNatsOptions({ servers: '127.0.0.1:4222', user: 'alice', pass: 's3cret' });

    expect([resolved.user, resolved.pass]).toEqual(['alice', 's3cret']);
  });

  it('rejects a user without a pass', () => {
    expect(rejection({ servers: '127.0.0.1:4222', user: 'alice' }).option).toBe('pass');
  });

  it('rejects a pass without a user', () => {
    expect(rejection({ servers: '127.0.0.1:4222', pass: 's3cret' }).option).toBe('user');
  });

  it('rejects a token combined with user and pass without printing the token', () => {
    const error = rejection({ servers: '127.0.0.1:4222', user: 'alice', pass: 'p', token: 'top-secret' });

    expect(error.option).toBe('token');
    expect(error.message).not.toContain('top-secret');
  });

  it.each([
    ['token', { token: '' }],
    ['token', { token: 42 }],
    ['user', { user: ' ', pass: 'p' }],
    ['name', { name: '' }],
    ['name', { name: 7 }],
  ])('rejects a bad %s', (option, extra) => {
    expect(rejection({ servers: '127.0.0.1:4222', ...extra }).option).toBe(option);
  });

  it('passes TLS options through and freezes a copy', () => {
    const tls = { caFile: '/tmp/ca.pem', rejectUnauthorized: true };
    const resolved = resolveNatsOptions({ servers: 'tls://127.0.0.1:4443', tls });

    expect(resolved.tls).toEqual(tls);
    expect(resolved.tls).not.toBe(tls);
    expect(Object.isFrozen(resolved.tls)).toBe(true);
  });

  it.each([
    ['tls', null],
    ['tls', 'yes'],
    ['tls.caFile', { caFile: '' }],
    ['tls.certFile', { certFile: 3, keyFile: '/k.pem' }],
    ['tls.keyFile', { certFile: '/c.pem' }],
    ['tls.certFile', { keyFile: '/k.pem' }],
  ])('rejects TLS options with a bad %s', (option, tls) => {
    expect(rejection({ servers: '127.0.0.1:4222', tls }).option).toBe(option);
  });

  it('turns reconnect: false into zero attempts', () => {
    expect(resolveNatsOptions({ servers: '127.0.0.1:4222', reconnect: false }).reconnect.maxAttempts).toBe(0);
  });

  it('keeps the given reconnect policy and defaults the rest', () => {
    const resolved = resolveNatsOptions({ servers: '127.0.0.1:4222', reconnect: { maxAttempts: 5 } });

    expect(resolved.reconnect).toEqual({ maxAttempts: 5, waitMs: 2000 });
  });

  it.each([
    ['reconnect', true],
    ['reconnect.maxAttempts', { maxAttempts: -2 }],
    ['reconnect.maxAttempts', { maxAttempts: 1.5 }],
    ['reconnect.waitMs', { waitMs: 0 }],
    ['reconnect.waitMs', { waitMs: 600_001 }],
    ['reconnect.waitMs', { waitMs: '2000' }],
  ])('rejects a reconnect policy with a bad %s', (option, reconnect) => {
    expect(rejection({ servers: '127.0.0.1:4222', reconnect }).option).toBe(option);
  });

  it.each([
    ['pingIntervalMs', { pingIntervalMs: 999 }],
    ['pingIntervalMs', { pingIntervalMs: Number.NaN }],
    ['drainTimeoutMs', { drainTimeoutMs: 0 }],
    ['onError', { onError: 'log' }],
  ])('rejects a bad %s', (option, extra) => {
    expect(rejection({ servers: '127.0.0.1:4222', ...extra }).option).toBe(option);
  });

  it('rejects options that are not an object', () => {
    expect(rejection(null).option).toBe('options');
  });

  it('keeps the error handler it is given', () => {
    const onError = (): void => undefined;
    const options: NatsOptions = { servers: '127.0.0.1:4222', onError };

    expect(resolveNatsOptions(options).onError).toBe(onError);
  });
});

describe('resolveNatsPubSubOptions', () => {
  it('defaults to a connection it does not own', () => {
    const resolved = resolveNatsPubSubOptions();

    expect(resolved).toEqual({ owned: false, onError: NATS_DEFAULTS.onError, drainTimeoutMs: 10_000 });
    expect(Object.isFrozen(resolved)).toBe(true);
  });

  it.each([
    ['owned', { owned: 'yes' }],
    ['onError', { onError: 1 }],
    ['drainTimeoutMs', { drainTimeoutMs: -1 }],
  ])('rejects a bad %s', (option, options) => {
    expect(rejection(options, resolveNatsPubSubOptions as (o: unknown) => unknown).option).toBe(option);
  });
});
