import { spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';

const REPO_ROOT = join(__dirname, '..', '..');

/**
 * Makes the bench's worker processes run the library as users install it: it
 * builds the package (`npm run build`, libs/flow/dist) and sets FLOW_LIBRARY
 * for the workers it spawns next, so that test/support/ts-register.js leaves
 * `nestjs-flow` to Node's resolution (the workspace link, whose main is dist)
 * instead of transpiling the sources. Transpiled sources carry inline source
 * maps with the whole source text: loading them costs a process about 3 MiB
 * more than the built package, which a memory figure would count against Flow.
 * `--sources` keeps the sources (a bench of uncommitted work without a build).
 * bench/run.js builds once for all the benchmarks it runs and says so with
 * FLOW_LIBRARY_BUILT=1.
 * Returns what the workers run, for the bench's caption.
 */
export function useBuiltLibrary(): string {
  if (process.argv.includes('--sources')) return 'Flow from its TypeScript sources (--sources)';
  // bench/run.js built it already for every benchmark it runs.
  if (process.env.FLOW_LIBRARY_BUILT !== '1') {
    const build = spawnSync('npm', ['run', 'build'], { cwd: REPO_ROOT, encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`npm run build failed (exit ${build.status}):\n${build.stdout}\n${build.stderr}`);
  }
  requireThisCheckout();
  process.env.FLOW_LIBRARY = 'dist';
  return 'Flow from the built package (npm run build, libs/flow/dist)';
}

/**
 * Throws unless `nestjs-flow` resolves to this checkout's libs/flow. A second
 * checkout (a git worktree of an older commit, to compare) whose
 * node_modules is a link to the first one's would otherwise build its own
 * package and run the first one's: the workspace link points at the first
 * checkout's libs/flow.
 */
function requireThisCheckout(): void {
  const resolved = realpathSync(dirname(require.resolve('nestjs-flow/package.json', { paths: [REPO_ROOT] })));
  const own = realpathSync(join(REPO_ROOT, 'libs', 'flow'));
  if (resolved !== own) {
    throw new Error(
      `nestjs-flow resolves to ${resolved}, not to this checkout's ${own}: the workers would run another build. ` +
        `Give this checkout a node_modules whose nestjs-flow links to its own libs/flow, or pass --sources.`,
    );
  }
}
