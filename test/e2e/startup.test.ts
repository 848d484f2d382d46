// What a command loads: the bundle keeps start-up small, and the heavy libraries (signing,
// archives, schema compilation, fast-glob) load only for the commands that use them.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BIN, run, sampleWorkspace, tempDir } from '../helpers/cli.js';

const HEAVY = /^(openpgp|@sigstore\/|tar|ajv|ajv-formats|fast-glob|minipass)(\/|$)/;

/** The bundle's chunks a CLI run loaded, with what became of their code caches, and the packages they required (SNAPGOV_TRACE_LOAD). */
function modulesLoaded(cwd: string, args: string[]): { code: number; chunks: [string, string][]; packages: string[] } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', SNAPGOV_TRACE_LOAD: '1' }, input: '' });
  const lines = r.stderr.split('\n');
  const chunks = lines.map((l) => /^snapgov: load (\S+) \(code cache: (\w+)\)$/.exec(l)).filter((m) => m !== null).map((m): [string, string] => [m[1]!, m[2]!]);
  const packages = lines.map((l) => /^snapgov: require (\S+)$/.exec(l)?.[1]).filter((p) => p !== undefined);
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
    // Chunks come only from the bundle's folder (a relative require of anything else would show as a package).
    expect(r.packages.filter((p) => p.startsWith('.'))).toEqual([]);
    // A handful of chunks, not the ~60 modules of the unbundled build; besides them, the
    // validators of the documents the command reads, one small chunk each, never all nine.
    const names = r.chunks.map(([name]) => name);
    const validators = names.filter((n) => n.endsWith('.gen.js'));
    expect(names.length - validators.length).toBeLessThanOrEqual(10);
    expect(validators.length).toBeLessThan(9);
    expect(validators).not.toContain('rehearsal-report.gen.js');
    // The build trained these commands: every chunk they load comes with a code cache V8 accepts.
    expect(r.chunks.filter(([, use]) => use !== 'used')).toEqual([]);
  });

  it('loads openpgp for a command that needs it', () => {
    const dir = tempDir();
    const r = modulesLoaded(dir, ['keygen', '--pgp', '--name', 'T', '--email', 't@example.org', '-o', join(dir, 'k')]);
    expect(r.code).toBe(0);
    expect(r.packages).toContain('openpgp');
  });
});
