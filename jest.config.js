/**
 * Two projects: `unit` (specs beside the code, in-memory transport, fast) and
 * `e2e` (test/, real nats-server processes started by the suites themselves).
 */
const tsJest = ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }];
// The package name resolves to the library's sources, as tsconfig.json's paths do.
const moduleNameMapper = {
  '^nestjs-flow$': '<rootDir>/libs/flow/src',
  '^nestjs-flow/(core|nats|testing)$': '<rootDir>/libs/flow/src/$1',
};

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      displayName: 'unit',
      rootDir: __dirname,
      testEnvironment: 'node',
      testMatch: ['<rootDir>/libs/**/*.spec.ts', '<rootDir>/apps/**/*.spec.ts'],
      testPathIgnorePatterns: ['/node_modules/', '/dist/'],
      transform: { '^.+\\.ts$': tsJest },
      moduleNameMapper,
    },
    {
      displayName: 'e2e',
      rootDir: __dirname,
      testEnvironment: 'node',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      transform: { '^.+\\.ts$': tsJest },
      moduleNameMapper,
      globalSetup: '<rootDir>/test/harness/global-setup.js',
      globalTeardown: '<rootDir>/test/harness/global-teardown.js',
      // A project's own testTimeout is ignored by jest; this file sets 120 s.
      setupFilesAfterEnv: ['<rootDir>/test/harness/e2e-timeout.js'],
    },
  ],
};
