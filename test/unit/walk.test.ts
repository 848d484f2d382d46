// Imports the built modules: loading a config needs the schema validators that only the build generates.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { chmodSync, lstatSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadWorkspace } from '../../dist/config/config.js';
import { managedPathTest, walkTree } from '../../dist/scan/walk.js';
import { tempDir } from '../helpers/cli.js';

// The default include has its own walk; fast-glob's is the reference. Both must select the same paths.
const names = ['k.key', '.key', 'r.sec.asc', 'x.sec', 'key', 'a', 'b', 'a|b', 'a-b', 'a.b', 'x.y', '\u{1F600}', '\uFFFD', 'build', '.git', 'node_modules', '.hidden', 'x.log', 'y.tmp', 'docs', 'a b', 'ü', '{a}', 'c*d', 'snapgov.json', 'store', 'line\nbreak', '.cache', 'README.md'];
const patterns = ['.git/**', 'a|b', 'x.y/**', 'build', 'build/**', '*.log', '**/*.tmp', '{a,b}/**', '!docs', 'node_modules', 'docs/*.md', 'a b/**', '**/.cache/**', 'c\\*d', '**/a', 'b/*', '.hidden', '**/README.md', 'store/x.log', '{x.log,y.tmp}'];
const tree = fc.array(fc.tuple(fc.array(fc.constantFrom(...names), { minLength: 1, maxLength: 4 }), fc.constantFrom('file', 'link', 'dir')), { minLength: 1, maxLength: 30 });

function build(root: string, entries: [string[], string][]): void {
  for (const [segments, kind] of entries) {
    const abs = join(root, ...segments);
    try {
      mkdirSync(dirname(abs), { recursive: true });
      if (kind === 'file') writeFileSync(abs, 'x', { flag: 'wx' });
      else if (kind === 'link') symlinkSync('a', abs);
      else mkdirSync(abs);
    } catch {
      // a clash with an earlier entry (a file where a folder is wanted, or the reverse): skip it
    }
  }
}

async function workspace(root: string, exclude: string[], storeInside: boolean, include = ['**']): Promise<Awaited<ReturnType<typeof loadWorkspace>>> {
  const store = storeInside ? join(root, 'store') : join(root, '..', 'outside-store');
  for (const d of ['snapshots', 'metadata']) mkdirSync(join(store, d), { recursive: true });
  writeFileSync(join(root, 'snapgov.json'), JSON.stringify({ version: 1, include, exclude, index: null, store: { snapshots: `${store}/snapshots`, metadata: `${store}/metadata`, rehearsal: `${store}/rehearsal` } }));
  return loadWorkspace(root);
}

/** Both walks list paths in manifest order (UTF-8 byte order); unreadable folders in any order. */
const sorted = (w: ReturnType<typeof walkTree>) => {
  expect(w.paths).toEqual([...w.paths].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
  return { paths: w.paths, unreadable: w.unreadable.map((u) => u.path).sort() };
};

/** Every file and symlink below root, as workspace-relative paths. */
function everyFile(root: string, rel = ''): string[] {
  return readdirSync(rel ? join(root, rel) : root).flatMap((n) => {
    const p = rel ? `${rel}/${n}` : n;
    return lstatSync(join(root, p)).isDirectory() ? everyFile(root, p) : [p];
  });
}

/** Random trees with random subsets of `pool` as exclusions: the own walk must list what fast-glob lists. */
async function sameAsFastGlob(pool: string[], numRuns: number, includes: string[] = ['**']): Promise<void> {
  await fc.assert(
    fc.asyncProperty(tree, fc.subarray(pool), fc.boolean(), fc.subarray(includes, { minLength: 1 }), async (entries, exclude, storeInside, include) => {
      const root = join(tempDir('snapgov-walk-'), 'ws');
      mkdirSync(root);
      const ws = await workspace(root, exclude, storeInside, include);
      build(root, entries);
      const walked = sorted(walkTree(ws));
      expect(walked).toEqual(sorted(walkTree(ws, true)));
      // The per-path test (keygen, rollback) agrees with the walk on every file and link of the tree.
      const managed = managedPathTest(ws);
      expect(everyFile(root).filter(managed).sort()).toEqual([...walked.paths].sort());
    }),
    { numRuns },
  );
}

describe('walkTree', () => {
  it('selects exactly what fast-glob selects for random trees and exclusions', () => sameAsFastGlob(patterns, 150));

  it('matches fast-glob too when every exclusion is a path or a whole folder (matched by name, without fast-glob)', () =>
    sameAsFastGlob(['.git/**', 'a|b', 'x.y/**', 'build', 'build/**', 'node_modules', 'a b/**', '.hidden', 'store/x.log', 'line\nbreak', 'b/a/**', '**/*.key', '**/*.sec.asc', '**/*.log'], 150));

  // Without `dir/**` includes: whether fast-glob lists a *file* named dir depends on which other
  // includes share its task (alone it reads inside dir only; beside `**/x` it matches dir itself).
  it('agrees with fast-glob and the per-path test for other includes', () => sameAsFastGlob(patterns, 60, ['**', '*.log', 'docs/*.md', '**/x.y', '**/a', 'b/*']));

  it('takes a line-broken name where an include other than ** selects it, in the walk and the per-path test alike (found by the property above)', async () => {
    const root = join(tempDir('snapgov-walk-'), 'ws');
    mkdirSync(root);
    const ws = await workspace(root, [], false, ['b/*']);
    build(root, [[['b', 'line\nbreak'], 'file'], [['k.key'], 'file']]);
    expect(walkTree(ws).paths).toEqual(['b/line\nbreak']);
    expect(managedPathTest(ws)('b/line\nbreak')).toBe(true);
  });

  it('never lists the store, the config or a line-broken name, and reports unreadable folders like fast-glob', async () => {
    const root = join(tempDir('snapgov-walk-'), 'ws');
    const ws = await workspace(root, ['.git/**'], true);
    build(root, [[['a', 'f'], 'file'], [['store', 'snapshots', 'x'], 'file'], [['line\nbreak'], 'file'], [['locked', 'f'], 'file'], [['l'], 'link']]);
    chmodSync(join(root, 'locked'), 0o000);
    try {
      const own = sorted(walkTree(ws));
      expect(own).toEqual(sorted(walkTree(ws, true)));
      expect(own.paths.filter((p) => !p.startsWith('locked/'))).toEqual(['a/f', 'l']);
    } finally {
      chmodSync(join(root, 'locked'), 0o755);
    }
  });
});
