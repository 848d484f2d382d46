// The chunk loader behind bin/snapgov: CommonJS semantics (relative chunks, cycles, packages) and
// code caches that are used only when they were made from the very source being loaded.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { REPO, tempDir } from '../helpers/cli.js';

// The built module: Vite does not transform CommonJS TypeScript (.cts), and npm test builds first.
const { CACHE_SUFFIX, ChunkLoader } = createRequire(import.meta.url)('../../dist/launch.cjs') as typeof import('../../src/launch.cjs');

// a.js requires b.js, which requires a.js back (a cycle) and a builtin; each exports a function
// so that the cache holds compiled code worth checking.
function chunks(bValue: number): Record<string, string> {
  return {
    'a.js': `const b = require('./b.js');\nexports.total = () => b.value() + 1;\nexports.name = 'a';\n`,
    'b.js': `const a = require('./a.js');\nconst { sep } = require('node:path');\nexports.seenName = a.name;\nexports.value = () => ${bValue} * 10;\nexports.sep = sep;\n`,
  };
}

function write(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

const LAUNCH = join(REPO, 'dist', 'launch.cjs');

/** Loads a.js and b.js in a fresh Node (V8 would reuse code compiled earlier in the same process), then writes their caches. */
function run(dir: string): { total: number; seenName: unknown; uses: Record<string, string>; trace: string[] } {
  const script = `
    const { ChunkLoader } = require(${JSON.stringify(LAUNCH)});
    const trace = [];
    const loader = new ChunkLoader(${JSON.stringify(dir)}, (l) => trace.push(l));
    const a = loader.load('a.js');
    const b = loader.load('b.js');
    if (b.sep !== '/') throw new Error('node:path not required');
    console.log(JSON.stringify({ total: a.total(), seenName: b.seenName, uses: Object.fromEntries(loader.uses), trace }));
    loader.writeCaches();`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as ReturnType<typeof run>;
}

describe('ChunkLoader', () => {
  it('loads each chunk once, hands a cycle the partial exports, and requires packages through Node', () => {
    const dir = tempDir();
    write(dir, chunks(4));
    const r = run(dir);
    expect(r.total).toBe(41);
    expect(r.seenName).toBeUndefined(); // b ran while a was still at its first line
    expect(r.trace).toEqual(['load a.js (code cache: none)', 'load b.js (code cache: none)']);
  });

  it('traces the packages a chunk requires, not the builtins', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'node_modules', 'pkg'), { recursive: true });
    write(dir, { 'node_modules/pkg/index.js': 'module.exports = 42;\n', 'p.js': `require('node:fs');\nrequire('fs');\nexports.v = require('pkg');\n` });
    const trace: string[] = [];
    expect((new ChunkLoader(dir, (l) => trace.push(l)).load('p.js') as { v: number }).v).toBe(42);
    expect(trace).toEqual(['load p.js (code cache: none)', 'require pkg']);
  });

  it.each([
    // [what happens to the files between a run that writes the caches and the next run, expected uses, expected total]
    ['nothing', () => {}, { 'a.js': 'used', 'b.js': 'used' }, 41],
    // Same length, other code: V8 alone would accept b's cache (it checks the source's length) and run 4 * 10.
    ['b.js edited to the same length', (dir: string) => write(dir, { 'b.js': chunks(7)['b.js']! }), { 'a.js': 'used', 'b.js': 'stale' }, 71],
    ['b.js edited to another length', (dir: string) => write(dir, { 'b.js': chunks(700)['b.js']! }), { 'a.js': 'used', 'b.js': 'stale' }, 7001],
    ["b's cache cut to its digest", (dir: string) => writeFileSync(join(dir, `b.js${CACHE_SUFFIX}`), readFileSync(join(dir, `b.js${CACHE_SUFFIX}`)).subarray(0, 32)), { 'a.js': 'used', 'b.js': 'stale' }, 41],
    ["b's cache damaged after its digest", (dir: string) => {
      const bytes = readFileSync(join(dir, `b.js${CACHE_SUFFIX}`));
      bytes.fill(0x5a, 32, 64);
      writeFileSync(join(dir, `b.js${CACHE_SUFFIX}`), bytes);
    }, { 'a.js': 'used', 'b.js': 'rejected' }, 41],
    ["a's cache given to b", (dir: string) => writeFileSync(join(dir, `b.js${CACHE_SUFFIX}`), readFileSync(join(dir, `a.js${CACHE_SUFFIX}`))), { 'a.js': 'used', 'b.js': 'stale' }, 41],
  ] as [string, (dir: string) => void, Record<string, string>, number][])('after %s, a cache is used only for its own source', (_what, change, uses, total) => {
    const dir = tempDir();
    write(dir, chunks(4));
    run(dir);
    change(dir);
    const r = run(dir);
    expect(r.uses).toEqual(uses);
    expect(r.total).toBe(total);
  });

  it('without the digest check, V8 would run the old code of a same-length edit (why the digest is there)', async () => {
    const { Script } = await import('node:vm');
    const old = new Script('(() => 4 * 10)()');
    old.runInThisContext();
    const edited = new Script('(() => 7 * 10)()', { cachedData: old.createCachedData() });
    expect(edited.cachedDataRejected).toBe(false);
    expect(edited.runInThisContext()).toBe(40);
  });
});
