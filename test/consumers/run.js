#!/usr/bin/env node
'use strict';
// Consumer check (`npm run test:consumers`): packs the library once with
// `npm run pack:lib`, checks the tarball's contents, then installs it into
// each fixture app (a copy in a temporary folder, so nothing is written in the
// repository), compiles the app with its own tsc and tsconfig, and runs it.
// Each app exits 0 once its own checks pass (see its src/main.ts).
//
// Usage: node test/consumers/run.js [--verbose] [app ...]
//   app: a folder here with a package.json (default: all); --verbose prints each app's own output.
// Prints one line per app with its time and closes with
// `consumers: N passed, M failed`; exits 1 on any failure.
// Plain Node, no dependencies. npm's cache is reused (--prefer-offline).

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');

const ROOT = path.resolve(__dirname, '..', '..');
const LIB = path.join(ROOT, 'libs', 'flow');
const HERE = __dirname;

/** Per-step bounds: a step over its bound is killed (its process group) and fails the app. */
const TIMEOUT_MS = { pack: 180_000, install: 300_000, tsc: 180_000, run: 40_000 };
/** Output kept per step, shown when the step fails. */
const MAX_OUTPUT = 64 * 1024;

/** What the tarball must not contain, with the reason printed on a match. */
const FORBIDDEN = [
  [/\.ts$/, 'TypeScript source (only .d.ts belongs in the package)', (p) => !p.endsWith('.d.ts')],
  [/\.(spec|e2e-spec|test)\.(js|d\.ts|ts)$/, 'spec file'],
  [/(^|\/)test\//, 'test/ folder'],
];
/** What the tarball must contain: the entry points of the exports map. */
const REQUIRED = ['package.json', 'dist/index.js', 'dist/index.d.ts'].concat(
  ...['core', 'nats', 'testing'].map((sub) => [`dist/${sub}/index.js`, `dist/${sub}/index.d.ts`]),
);

async function main() {
  const started = Date.now();
  const args = process.argv.slice(2);
  const verbose = args.includes('--verbose');
  const apps = selectApps(args.filter((arg) => arg !== '--verbose'));
  let tarball;
  try {
    tarball = await pack();
  } catch (error) {
    console.error(`pack: FAILED: ${error.message}`);
    finish(0, apps.length, started);
    return;
  }
  let passed = 0;
  let failed = 0;
  for (const app of apps) {
    if (await runApp(app, tarball, verbose)) passed++;
    else failed++;
  }
  finish(passed, failed, started);
}

function selectApps(requested) {
  const all = fs
    .readdirSync(HERE, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && fs.existsSync(path.join(HERE, entry.name, 'package.json')))
    .map((entry) => entry.name)
    .sort();
  for (const name of requested) {
    if (!all.includes(name)) throw new Error(`unknown consumer app "${name}"; known: ${all.join(', ')}`);
  }
  return requested.length > 0 ? requested : all;
}

/** Builds and packs the library with the project's own command; checks and returns the tarball's path. */
async function pack() {
  const t0 = Date.now();
  const { version } = JSON.parse(fs.readFileSync(path.join(LIB, 'package.json'), 'utf8'));
  const destination = path.join(ROOT, 'dist');
  const tarball = path.join(destination, `nestjs-flow-${version}.tgz`);
  fs.mkdirSync(destination, { recursive: true }); // npm pack --pack-destination does not create it
  fs.rmSync(tarball, { force: true }); // never test a tarball left by an earlier run
  const result = await step('npm', ['run', 'pack:lib'], ROOT, TIMEOUT_MS.pack);
  if (!result.ok) throw new Error(`npm run pack:lib ${result.reason}\n${indent(result.output)}`);
  if (!fs.existsSync(tarball)) throw new Error(`npm run pack:lib did not write ${path.relative(ROOT, tarball)}`);

  const files = listTarball(fs.readFileSync(tarball));
  const problems = tarballProblems(files);
  const size = fs.statSync(tarball).size;
  console.log(
    `tarball: ${path.relative(ROOT, tarball)}, ${(size / 1024).toFixed(1)} KiB, ${files.length} files ` +
      `(packed in ${seconds(Date.now() - t0)})`,
  );
  if (problems.length > 0) throw new Error(`the tarball has what a package must not:\n${indent(problems.join('\n'))}`);
  return tarball;
}

/** What is wrong with a package's file list: forbidden files present, required ones missing. */
function tarballProblems(files) {
  const problems = [];
  for (const file of files) {
    for (const [pattern, reason, extra] of FORBIDDEN) {
      if (pattern.test(file) && (extra === undefined || extra(file))) problems.push(`${file}: ${reason}`);
    }
  }
  for (const file of REQUIRED) if (!files.includes(file)) problems.push(`${file}: missing`);
  return problems;
}

/**
 * Lists the regular files of a gzipped tar (paths without npm's `package/`
 * prefix). Reads ustar headers, pax `path` records and GNU long names.
 */
function listTarball(gzipped) {
  const tar = zlib.gunzipSync(gzipped);
  const files = [];
  let longName;
  for (let offset = 0; offset + 512 <= tar.length; ) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break;
    const field = (start, length) => header.toString('latin1', start, start + length).replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = field(156, 1) || '0';
    const body = tar.subarray(offset + 512, offset + 512 + size);
    if (type === 'x') {
      const match = /\d+ path=([^\n]*)\n/.exec(body.toString('utf8'));
      longName = match ? match[1] : undefined;
    } else if (type === 'L') {
      longName = body.toString('utf8').replace(/\0.*$/s, ''); // GNU long name
    } else {
      const prefix = field(345, 155);
      const name = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
      longName = undefined;
      if (type === '0') files.push(name.replace(/^package\//, ''));
    }
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

/** Copies the app to a temporary folder, installs the tarball and its deps, compiles and runs it. */
async function runApp(app, tarball, verbose) {
  const t0 = Date.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `flow-consumer-${app}-`));
  const skip = new Set(['node_modules', 'dist', 'package-lock.json']);
  fs.cpSync(path.join(HERE, app), dir, {
    recursive: true,
    filter: (source) => !skip.has(path.basename(source)) && !source.endsWith('.tsbuildinfo'),
  });
  // The controller, DTOs, enhancers and checks are the same in every app: written once, in the
  // ESM form (`.js` extensions, `import type`) that a CommonJS app's tsconfig compiles as well.
  fs.cpSync(path.join(HERE, 'shared'), path.join(dir, 'src'), { recursive: true });
  const steps = [
    ['install', 'npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', tarball]],
    ['tsc', process.execPath, [path.join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']],
    ['run', process.execPath, ['dist/main.js']],
  ];
  const times = [];
  let lastOutput = '';
  for (const [name, command, args] of steps) {
    const result = await step(command, args, dir, TIMEOUT_MS[name]);
    times.push(`${name} ${seconds(result.ms)}`);
    lastOutput = result.output;
    if (!result.ok) {
      console.log(
        `${app}: FAILED at ${name} (${result.reason}) after ${seconds(Date.now() - t0)} (${times.join(', ')}); ` +
          `app copy kept in ${dir}`,
      );
      console.log(indent(result.output));
      return false;
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(`${app}: passed in ${seconds(Date.now() - t0)} (${times.join(', ')})`);
  if (verbose) console.log(indent(lastOutput));
  return true;
}

/**
 * Runs one command in its own process group; resolves with its outcome and
 * the tail of its output. Past `timeoutMs` the group is killed and the step fails.
 */
function step(command, args, cwd, timeoutMs) {
  const t0 = Date.now();
  return new Promise((resolve) => {
    let output = '';
    const keep = (chunk) => {
      output = (output + chunk.toString('utf8')).slice(-MAX_OUTPUT);
    };
    const child = spawn(command, args, { cwd, env: childEnv(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, timeoutMs);
    const settle = (ok, reason) => {
      clearTimeout(timer);
      resolve({ ok, reason, output: output.trimEnd(), ms: Date.now() - t0 });
    };
    child.on('error', (error) => settle(false, error.message));
    child.on('close', (code, signal) => {
      if (timedOut) settle(false, `timed out after ${seconds(timeoutMs)}`);
      else if (code === 0) settle(true, 'exit 0');
      else settle(false, signal ? `killed by ${signal}` : `exit ${code}`);
    });
  });
}

/**
 * The environment for child commands, without what `npm run` sets about the
 * workspace it runs in: an npm in the app's folder must treat it as its own project.
 */
function childEnv() {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    const lower = name.toLowerCase();
    if (
      lower.startsWith('npm_package_') ||
      lower.startsWith('npm_lifecycle_') ||
      ['npm_config_local_prefix', 'npm_config_prefix', 'npm_config_workspace', 'npm_config_workspaces'].includes(lower)
    ) {
      delete env[name];
    }
  }
  return env;
}

function finish(passed, failed, started) {
  console.log(`consumer check took ${seconds(Date.now() - started)}`);
  console.log(`consumers: ${passed} passed, ${failed} failed`);
  process.exitCode = failed > 0 ? 1 : 0;
}

function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

function indent(text) {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}

if (require.main === module) {
  main().catch((error) => {
    console.error(`consumers: ${error.message}`);
    process.exitCode = 1;
  });
}

module.exports = { listTarball, tarballProblems };
