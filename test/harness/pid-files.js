'use strict';
/**
 * A directory of PID files, one per nats-server the e2e tests started and
 * have not stopped yet. global-setup.js creates it (FLOW_E2E_PID_DIR tells
 * the workers where), global-teardown.js kills what is still listed: servers
 * whose spec crashed before its afterAll. A PID is killed only if
 * /proc/<pid>/cmdline still names nats-server, so a reused PID is safe.
 * Plain JavaScript because jest's globalSetup and globalTeardown load it untransformed.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ENV = 'FLOW_E2E_PID_DIR';

function createPidDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flow-e2e-pids-'));
  process.env[ENV] = dir;
  return dir;
}

function rememberPid(pid) {
  const dir = process.env[ENV];
  if (dir) fs.writeFileSync(path.join(dir, String(pid)), '');
}

function forgetPid(pid) {
  const dir = process.env[ENV];
  if (dir) fs.rmSync(path.join(dir, String(pid)), { force: true });
}

/** @returns {number[]} the PIDs that were still running and got SIGKILL */
function killRemembered() {
  const dir = process.env[ENV];
  if (!dir || !fs.existsSync(dir)) return [];
  const killed = [];
  for (const name of fs.readdirSync(dir)) {
    const pid = Number(name);
    if (Number.isInteger(pid) && pid > 0 && isNatsServer(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
        killed.push(pid);
      } catch {
        // Exited in the meantime.
      }
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return killed;
}

function isNatsServer(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0].endsWith('nats-server');
  } catch {
    return false;
  }
}

module.exports = { createPidDir, rememberPid, forgetPid, killRemembered };
