// File sizes in entries: exact, and small integers as V8 keeps them, whichever way the scan read
// them. One boxed double among the entries turns their shared `size` field into a double field,
// and every entry is then migrated (10,000 of them in a rollback of the 10,000-file bench tree).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { entrySize } from '../../src/core/manifest.js';
import { REPO, run, tempDir, writeTree } from '../helpers/cli.js';

describe('entrySize', () => {
  it.each([0, 1, 4095, 2 ** 30 - 1, 2 ** 30, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER])('keeps %d exactly', (n) => {
    expect(entrySize(new Float64Array([n])[0]!)).toBe(n);
  });
});

describe('scanned entries', () => {
  it('hold their sizes as small integers, hashed or answered by the stat cache', { timeout: 15_000 }, () => {
    const ws = tempDir();
    const files: Record<string, string> = {};
    for (let i = 0; i < 20; i++) files[`d${i % 3}/f${i}.txt`] = 'x'.repeat(i * 37);
    writeTree(ws, files);
    expect(run(ws, ['init']).code).toBe(0);
    // The built modules in a fresh Node with V8's %IsSmi: the first scan hashes every file, the
    // second finds them all in the stat cache the first one saved (once the files' timestamps,
    // ctime included, are older than the cache's 2-second racy window).
    const script = `
      await new Promise((r) => setTimeout(r, 2100));
      const { loadWorkspace } = await import(${JSON.stringify(join(REPO, 'dist/config/config.js'))});
      const { storeLayout } = await import(${JSON.stringify(join(REPO, 'dist/store/layout.js'))});
      const { scanTree } = await import(${JSON.stringify(join(REPO, 'dist/scan/scan.js'))});
      const ws = await loadWorkspace(${JSON.stringify(ws)});
      const layout = storeLayout(ws);
      const out = [];
      for (const pass of ['hashed', 'cached']) {
        const { entries } = await scanTree(ws, { objects: null, layout });
        out.push({ pass, files: entries.length, notSmi: entries.filter((e) => !%IsSmi(e.size)).map((e) => e.path) });
      }
      console.log(JSON.stringify(out));`;
    const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual([
      { pass: 'hashed', files: 20, notSmi: [] },
      { pass: 'cached', files: 20, notSmi: [] },
    ]);
  });
});
