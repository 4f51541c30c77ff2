'use strict';
/**
 * setupFilesAfterEnv of the e2e project. jest reads `testTimeout` only from
 * the root config, not from a project, so the e2e project sets its own here.
 */
jest.setTimeout(120_000);
