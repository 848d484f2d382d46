// What a command loads: the bundle keeps start-up small, and the heavy libraries (signing,
// archives, schema compilation, fast-glob) load only for the commands that use them.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BIN, run, sampleWorkspace, tempDir } from '../helpers/cli.js';

const HEAVY = /\/node_modules\/(openpgp|@sigstore|tar|ajv|ajv-formats|fast-glob|minipass)\//;

/** The file URLs of every module a CLI run loaded (a module hook records them). */
function modulesLoaded(cwd: string, args: string[]): { code: number; urls: string[] } {
  const dir = tempDir('snapgov-hook-');
  const log = join(dir, 'loaded.txt');
  const hook = join(dir, 'hook.mjs');
  writeFileSync(hook, `import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) {\n  appendFileSync(${JSON.stringify(log)}, url + '\\n');\n  return next(url, context);\n}\n`);
  const register = join(dir, 'register.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hook).href)});\n`);
  writeFileSync(log, '');
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(register).href, BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, input: '' });
  return { code: r.status ?? -1, urls: readFileSync(log, 'utf8').split('\n').filter((u) => u.startsWith('file:')) };
}

describe('start-up', () => {
  it.each([
    ['--version', () => tempDir()],
    ['status', sampleWorkspace],
    ['rollback --dry-run latest', (): string => {
      const ws = sampleWorkspace();
      if (run(ws, ['create', '-q']).code !== 0) throw new Error('create failed');
      return ws;
    }],
  ] as [string, () => string][])('%s loads the bundle and none of the heavy libraries', (args, setup) => {
    const r = modulesLoaded(setup(), args.split(' '));
    expect(r.code).toBe(0);
    expect(r.urls.filter((u) => HEAVY.test(u))).toEqual([]);
    // The bundle: a handful of chunks, not the ~60 modules of the unbundled build; besides them,
    // the validators of the documents the command reads, one small chunk each, never all nine.
    const ours = r.urls.filter((u) => u.includes('/dist/'));
    expect(ours.every((u) => u.includes('/dist/bundle/'))).toBe(true);
    const validators = ours.filter((u) => u.endsWith('.gen.js'));
    expect(ours.length - validators.length).toBeLessThanOrEqual(10);
    expect(validators.length).toBeLessThan(9);
    expect(validators.some((u) => u.endsWith('/rehearsal-report.gen.js'))).toBe(false);
  });

  it('loads openpgp for a command that needs it', () => {
    const dir = tempDir();
    const r = modulesLoaded(dir, ['keygen', '--pgp', '--name', 'T', '--email', 't@example.org', '-o', join(dir, 'k')]);
    expect(r.code).toBe(0);
    expect(r.urls.some((u) => u.includes('/node_modules/openpgp/'))).toBe(true);
  });
});
