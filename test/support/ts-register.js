'use strict';
/**
 * A require hook for .ts files in child processes (broker workers, bench
 * workers): `node --enable-source-maps -r ./test/support/ts-register.js x.ts`.
 *
 * It does what `ts-node/register/transpile-only` does (typescript's
 * transpileModule with the repository's tsconfig.json, no type check) but
 * keeps the output in a cache under the system temp directory, keyed by the
 * source, tsconfig.json and the typescript version. A warm start then loads
 * no compiler at all: a worker is up in about a third of a second instead of
 * one and a half, which matters when a test run spawns dozens of them on two
 * cores. Plain JavaScript because it runs before any TypeScript can.
 *
 * It also resolves the package name (`nestjs-flow`, `nestjs-flow/core`, ...)
 * to the library's sources, as tsconfig.json's paths and jest's
 * moduleNameMapper do, so workers run the code under test, not a build;
 * except with FLOW_LIBRARY=dist, which benchmarks set after building the package.
 */
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const TSCONFIG = path.join(ROOT, 'tsconfig.json');
const CACHE_DIR = path.join(os.tmpdir(), `flow-ts-cache-${typeof process.getuid === 'function' ? process.getuid() : 'user'}`);
const TYPESCRIPT_VERSION = require(require.resolve('typescript/package.json', { paths: [ROOT] })).version;
const CONFIG_TEXT = fs.readFileSync(TSCONFIG, 'utf8');
const LIBRARY_SOURCES = path.join(ROOT, 'libs', 'flow', 'src');
const PACKAGE_NAME = /^nestjs-flow(?:\/(core|nats|testing))?$/;
/** FLOW_LIBRARY=dist: the package resolves as installed (its built dist), as benchmarks measure it (bench/support/built-library.ts). */
const FROM_SOURCES = process.env.FLOW_LIBRARY !== 'dist';

let compilerOptions; // Loaded with the compiler on the first cache miss.

function transpile(source, filename) {
  const ts = require(require.resolve('typescript', { paths: [ROOT] }));
  if (compilerOptions === undefined) {
    const config = ts.parseConfigFileTextToJson(TSCONFIG, CONFIG_TEXT).config ?? {};
    compilerOptions = {
      ...ts.convertCompilerOptionsFromJson(config.compilerOptions ?? {}, ROOT).options,
      module: ts.ModuleKind.CommonJS,
      sourceMap: false,
      inlineSourceMap: true,
      inlineSources: true,
      declaration: false,
      noEmit: false,
    };
  }
  return ts.transpileModule(source, { compilerOptions, fileName: filename }).outputText;
}

function compiled(source, filename) {
  const key = crypto.createHash('sha256').update(TYPESCRIPT_VERSION).update('\0').update(CONFIG_TEXT)
    .update('\0').update(filename).update('\0').update(source).digest('hex');
  const cached = path.join(CACHE_DIR, `${key}.js`);
  try {
    return fs.readFileSync(cached, 'utf8');
  } catch {
    // Not cached yet.
  }
  const output = transpile(source, filename);
  // Write then rename: concurrent workers never read half a file.
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const partial = `${cached}.${process.pid}.tmp`;
  fs.writeFileSync(partial, output);
  fs.renameSync(partial, cached);
  return output;
}

const Module = require('node:module');
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function resolveToSources(request, ...rest) {
  const match = FROM_SOURCES ? PACKAGE_NAME.exec(request) : null;
  if (match) return resolveFilename.call(this, path.join(LIBRARY_SOURCES, match[1] ?? ''), ...rest);
  return resolveFilename.call(this, request, ...rest);
};

require.extensions['.ts'] = function loadTypeScript(module, filename) {
  module._compile(compiled(fs.readFileSync(filename, 'utf8'), filename), filename);
};
