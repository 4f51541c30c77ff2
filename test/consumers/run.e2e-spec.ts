// The tarball check of the consumer runner (run.js): what it lists and what it refuses.
import { gzipSync } from 'node:zlib';

// run.js is plain Node (CommonJS, no types): the runner CI calls directly.
const { listTarball, tarballProblems } = require('./run.js') as {
  listTarball: (gzipped: Buffer) => string[];
  tarballProblems: (files: string[]) => string[];
};

/** One tar entry: a 512-byte ustar header (name, size, type) and the body padded to 512 bytes. */
function entry(name: string, body = '', type = '0'): Buffer {
  const header = Buffer.alloc(512);
  header.write(name.slice(0, 100), 0, 'latin1');
  header.write(Buffer.byteLength(body).toString(8).padStart(11, '0'), 124, 'latin1');
  header.write(type, 156, 'latin1');
  header.write('ustar', 257, 'latin1');
  const padded = Buffer.alloc(Math.ceil(Buffer.byteLength(body) / 512) * 512);
  padded.write(body, 0, 'utf8');
  return Buffer.concat([header, padded]);
}

function paxEntry(path: string): Buffer {
  const record = (length: number) => `${length} path=${path}\n`;
  let length = record(0).length;
  while (record(length).length !== length) length = record(length).length;
  return entry('PaxHeader', record(length), 'x');
}

function tarball(...entries: Buffer[]): Buffer {
  return gzipSync(Buffer.concat([...entries, Buffer.alloc(1024)]));
}

const COMPLETE = [
  'package.json',
  'dist/index.js',
  'dist/index.d.ts',
  ...['core', 'nats', 'testing'].flatMap((sub) => [`dist/${sub}/index.js`, `dist/${sub}/index.d.ts`]),
];

describe('consumer runner: tarball check', () => {
  it('lists regular files without the package/ prefix, long pax and GNU names included', () => {
    const long = `package/dist/${'nested-folder/'.repeat(8)}deep.d.ts`;
    const files = listTarball(
      tarball(
        entry('package/dist/', '', '5'),
        entry('package/package.json', '{"name":"x"}'),
        paxEntry(long),
        entry(long.slice(0, 100), 'export {};'),
        entry('././@LongLink', `package/dist/${'gnu-long-name/'.repeat(8)}x.js\0`, 'L'),
        entry('package/dist/gnu-long-name/gnu-long', 'x'),
        entry('package/dist/index.js', 'module.exports = {};'),
      ),
    );
    expect(files).toEqual([
      'package.json',
      long.replace(/^package\//, ''),
      `dist/${'gnu-long-name/'.repeat(8)}x.js`,
      'dist/index.js',
    ]);
  });

  it('accepts the entry points and declaration files', () => {
    expect(tarballProblems([...COMPLETE, 'dist/core/broker.d.ts', 'dist/core/broker.js', 'README.md'])).toEqual([]);
  });

  it('refuses TypeScript sources, specs and test/ folders, and names what is missing', () => {
    expect(
      tarballProblems([
        ...COMPLETE.filter((file) => file !== 'dist/testing/index.d.ts'),
        'dist/core/broker.ts',
        'dist/core/broker.spec.js',
        'dist/nest/flow.e2e-spec.d.ts',
        'test/fixtures/go-flow-vectors.js',
      ]),
    ).toEqual([
      'dist/core/broker.ts: TypeScript source (only .d.ts belongs in the package)',
      'dist/core/broker.spec.js: spec file',
      'dist/nest/flow.e2e-spec.d.ts: spec file',
      'test/fixtures/go-flow-vectors.js: test/ folder',
      'dist/testing/index.d.ts: missing',
    ]);
  });
});
