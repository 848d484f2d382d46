// What a command loads: the bundle keeps start-up small, and the heavy libraries (signing,
// archives, schema compilation, fast-glob) load only for the commands that use them.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join, sep } from 'node:path';
import { BIN, REPO, run, sampleWorkspace, tempDir } from '../helpers/cli.js';

const HEAVY = /^(openpgp|@sigstore\/|tar|ajv|ajv-formats|fast-glob|minipass)(\/|$)/;

/** The bundle's chunks a CLI run loaded and the packages they required, from Node's own module trace (NODE_DEBUG=module). */
function modulesLoaded(cwd: string, args: string[]): { code: number; chunks: string[]; packages: string[] } {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', NODE_DEBUG: 'module' };
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env, input: '' });
  const loaded = r.stderr.split('\n').map((l) => /^MODULE \d+: load "([^"]+)" for module/.exec(l)?.[1]).filter((p) => p !== undefined);
  const bundle = join(REPO, 'dist', 'bundle') + sep;
  const chunks = loaded.filter((p) => p.startsWith(bundle)).map((p) => p.slice(bundle.length));
  // Besides the chunks: bin/snapgov, the package.json the version comes from, and the one-function
  // runtime helpers of ajv that the standalone validators import (not ajv's compiler).
  const ours = new Set([BIN, join(REPO, 'package.json')]);
  const packages = loaded.filter((p) => !p.startsWith(bundle) && !ours.has(p) && !p.includes('/node_modules/ajv/dist/runtime/')).map((p) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(p)?.[1] ?? p);
  return { code: r.status ?? -1, chunks, packages };
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
    expect(r.packages.filter((p) => HEAVY.test(p))).toEqual([]);
    // Chunks come only from the bundle's folder: nothing of the unbundled dist/ or src/.
    expect(r.packages.filter((p) => p.startsWith(REPO))).toEqual([]);
    expect(r.chunks).toContain('cli.js');
    // A handful of chunks, not the ~60 modules of the unbundled build; besides them, the
    // validators of the documents the command reads, one small chunk each, never all nine.
    const names = r.chunks;
    const validators = names.filter((n) => n.endsWith('.gen.js'));
    expect(names.length - validators.length).toBeLessThanOrEqual(10);
    expect(validators.length).toBeLessThan(9);
    expect(validators).not.toContain('rehearsal-report.gen.js');
  });

  it('loads openpgp for a command that needs it', () => {
    const dir = tempDir();
    const r = modulesLoaded(dir, ['keygen', '--pgp', '--name', 'T', '--email', 't@example.org', '-o', join(dir, 'k')]);
    expect(r.code).toBe(0);
    expect(r.packages).toContain('openpgp');
  });
});
