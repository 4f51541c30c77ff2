import { ErrorCode } from '../core/errors';

/** What Node throws for a package that is not installed. */
function notInstalled(name: string): never {
  throw Object.assign(new Error(`Cannot find module '${name}'`), { code: 'MODULE_NOT_FOUND' });
}

/**
 * An app without prom-client or @opentelemetry/api: both are mocked as
 * missing, in a module registry of this test's own.
 */
function withoutPeers(run: (createTelemetry: typeof import('./flow-instrumentation').createTelemetry) => void): {
  promLoads: number;
  otelLoads: number;
} {
  const loads = { promLoads: 0, otelLoads: 0 };
  jest.isolateModules(() => {
    jest.doMock('prom-client', () => {
      loads.promLoads++;
      return notInstalled('prom-client');
    });
    jest.doMock('@opentelemetry/api', () => {
      loads.otelLoads++;
      return notInstalled('@opentelemetry/api');
    });
    run((require('./flow-instrumentation') as typeof import('./flow-instrumentation')).createTelemetry);
  });
  return loads;
}

describe('optional peer dependencies', () => {
  afterEach(() => {
    jest.dontMock('prom-client');
    jest.dontMock('@opentelemetry/api');
  });

  it('loads neither prom-client nor @opentelemetry/api while metrics and tracing are off', () => {
    let telemetry: unknown;
    const loads = withoutPeers((createTelemetry) => {
      telemetry = createTelemetry({}, () => undefined);
    });

    expect(telemetry).toEqual({ instrumentation: undefined, metrics: undefined });
    expect(loads).toEqual({ promLoads: 0, otelLoads: 0 });
  });

  it('names the missing package and the option when metrics are on without prom-client', () => {
    withoutPeers((createTelemetry) => {
      expect(() => createTelemetry({ metrics: {} }, () => undefined)).toThrow(
        expect.objectContaining({
          code: ErrorCode.InvalidOption,
          message: expect.stringMatching(/metrics.*prom-client \(npm install prom-client\)/),
        }),
      );
    });
  });

  it('names the missing package and the option when tracing is on without @opentelemetry/api', () => {
    withoutPeers((createTelemetry) => {
      expect(() => createTelemetry({ tracing: {} }, () => undefined)).toThrow(
        expect.objectContaining({
          code: ErrorCode.InvalidOption,
          message: expect.stringMatching(/tracing.*@opentelemetry\/api \(npm install @opentelemetry\/api\)/),
        }),
      );
    });
  });

  it('passes on an error from a peer that is installed but broken', () => {
    jest.isolateModules(() => {
      jest.doMock('prom-client', () => {
        throw new Error('prom-client exploded');
      });
      const { createTelemetry } = require('./flow-instrumentation') as typeof import('./flow-instrumentation');
      expect(() => createTelemetry({ metrics: {} }, () => undefined)).toThrow('prom-client exploded');
    });
  });
});
