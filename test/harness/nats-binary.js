'use strict';
/**
 * Finds the nats-server binary: $NATS_SERVER_BIN, then PATH, then the
 * directories Debian's package and manual installs use (Debian puts it in
 * /usr/sbin, which is not on a non-root PATH).
 * Plain JavaScript because jest's globalSetup loads it untransformed.
 */
const fs = require('node:fs');
const path = require('node:path');

const FALLBACK_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/bin', '/usr/local/bin'];

const INSTALL_HINT =
  'nats-server was not found. Install it with `sudo apt-get install -y nats-server` (Debian/Ubuntu), ' +
  'or download it from the NATS project and set NATS_SERVER_BIN=/path/to/nats-server.';

/** @returns {string | undefined} the absolute path of an executable nats-server */
function findNatsServer(env = process.env) {
  const explicit = env.NATS_SERVER_BIN;
  if (explicit !== undefined && explicit !== '') return isExecutable(explicit) ? explicit : undefined;
  const dirs = (env.PATH ?? '').split(path.delimiter).filter((dir) => dir !== '');
  for (const dir of [...dirs, ...FALLBACK_DIRS]) {
    const candidate = path.join(dir, 'nats-server');
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

module.exports = { findNatsServer, INSTALL_HINT };
