'use strict';
/**
 * jest globalTeardown of the e2e project: kills, by PID, any nats-server that
 * a spec started and did not stop (a crashed worker, a failed afterAll).
 */
const { killRemembered } = require('./pid-files');

module.exports = async function globalTeardown() {
  const killed = killRemembered();
  if (killed.length > 0) process.stderr.write(`\nkilled ${killed.length} leftover nats-server(s): ${killed.join(', ')}\n`);
};
