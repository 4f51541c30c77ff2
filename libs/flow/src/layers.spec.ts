import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * Dependencies point one way (DESIGN.md): nest -> nats -> core, nest -> core,
 * testing -> nest, core (its Nest-level helper starts apps; nothing imports
 * testing); nest -> telemetry -> core: telemetry/ holds the metrics
 * (prom-client) and tracing (@opentelemetry/api) code, kept out of core.
 * This spec is the enforcement: it reads every source file
 * of a layer and fails on an import that crosses the line.
 */
const SRC = __dirname;

const FORBIDDEN: Record<string, { packages: RegExp; layers: string[] }> = {
  core: {
    packages: /^(@nestjs\/|rxjs|nats$|nats\/|@nats-io\/|node:|fs$|net$|crypto$|prom-client|@opentelemetry\/)/,
    layers: ['nats', 'nest', 'testing', 'telemetry'],
  },
  nats: { packages: /^(@nestjs\/|rxjs|prom-client|@opentelemetry\/)/, layers: ['nest', 'testing', 'telemetry'] },
  testing: { packages: /^(rxjs|nats$|nats\/|@nats-io\/|node:)/, layers: ['nats', 'telemetry'] },
  telemetry: { packages: /^(@nestjs\/|rxjs|nats$|nats\/|@nats-io\/)/, layers: ['nats', 'nest', 'testing'] },
  nest: { packages: /^$/, layers: ['testing'] },
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    // Specs and their helpers are test code, left out of the build as well (tsconfig.lib.json).
    return name.endsWith('.ts') && !name.endsWith('.spec.ts') && !name.endsWith('.spec-helper.ts') ? [path] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers: string[] = [];
  for (const match of text.matchAll(/(?:from\s+|import\s*\(\s*|require\(\s*|import\s+)['"]([^'"]+)['"]/g)) {
    specifiers.push(match[1]);
  }
  return specifiers;
}

function violations(layer: string): string[] {
  const rule = FORBIDDEN[layer];
  const found: string[] = [];
  for (const file of sourceFiles(join(SRC, layer))) {
    for (const specifier of importsOf(file)) {
      const crossesLayer = specifier.startsWith('.') && rule.layers.some((other) => {
        const target = relative(SRC, join(file, '..', specifier)).split('/')[0];
        return target === other;
      });
      if (rule.packages.test(specifier) || crossesLayer) found.push(`${relative(SRC, file)} imports '${specifier}'`);
    }
  }
  return found;
}

describe('layer boundaries', () => {
  it.each(Object.keys(FORBIDDEN))('keeps %s/ free of imports it must not have', (layer) => {
    expect(violations(layer)).toEqual([]);
  });

  it('recognises a forbidden import when one is present', () => {
    const rule = FORBIDDEN.core;
    const forbidden = ['@nestjs/common', 'rxjs', 'nats', '@nats-io/transport-node', 'node:fs', 'prom-client', '@opentelemetry/api'];
    expect(forbidden.every((s) => rule.packages.test(s))).toBe(true);
    expect(FORBIDDEN.telemetry.packages.test('prom-client')).toBe(false);
    expect(FORBIDDEN.telemetry.packages.test('@nestjs/common')).toBe(true);
    expect(rule.packages.test('./key')).toBe(false);
  });
});
