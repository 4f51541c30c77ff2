'use strict';
/**
 * jest globalSetup of the e2e project: makes sure a nats-server binary exists
 * and tells the workers where it is through NATS_SERVER_BIN; creates the
 * PID directory that global-teardown.js cleans up (see pid-files.js).
 * When it is missing and we are root with apt-get, it installs Debian's
 * package (what CI on a fresh machine needs); otherwise it fails with how to
 * install it.
 */
const { spawnSync } = require('node:child_process');
const { findNatsServer, INSTALL_HINT } = require('./nats-binary');
const { createPidDir } = require('./pid-files');

module.exports = async function globalSetup() {
  let binary = findNatsServer();
  if (binary === undefined && process.env.NATS_SERVER_BIN) {
    throw new Error(`NATS_SERVER_BIN=${process.env.NATS_SERVER_BIN} is not an executable file. ${INSTALL_HINT}`);
  }
  if (binary === undefined && canInstallWithApt()) {
    process.stderr.write('\nnats-server not found: installing Debian package nats-server with apt-get\n');
    if (!aptGet(['install', '-y', 'nats-server'])) {
      aptGet(['update']);
      aptGet(['install', '-y', 'nats-server']);
    }
    binary = findNatsServer();
  }
  if (binary === undefined) throw new Error(INSTALL_HINT);
  process.env.NATS_SERVER_BIN = binary;
  createPidDir();
};

function canInstallWithApt() {
  return typeof process.getuid === 'function' && process.getuid() === 0 && aptGet(['--version'], 'ignore');
}

/** Runs apt-get without a terminal; output goes to stderr so jest's reporter stays readable. */
function aptGet(args, stdout = 2) {
  const result = spawnSync('apt-get', args, {
    stdio: ['ignore', stdout, 2],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeout: 300_000,
  });
  return result.status === 0;
}
