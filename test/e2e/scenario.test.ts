// A real user's week, end to end in one workspace, with snapgov installed the way the README says:
// `npm pack` in a fresh copy of the repository (prepack builds it) and a global install of the tarball.
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonFile, REPO, sha256, tempDir, writeTree } from '../helpers/cli.js';

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** A fresh copy of the repository's files (what a clone holds), with the installed node_modules beside it. */
function freshCopy(): string {
  const dir = join(tempDir('snapgov-clone-'), 'snapgov');
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: REPO, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const f of files) {
    mkdirSync(join(dir, f, '..'), { recursive: true });
    cpSync(join(REPO, f), join(dir, f), { verbatimSymlinks: true });
  }
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

describe("a user's week", () => {
  it('npm pack on a fresh clone builds and ships only what runs; the installed command does the whole week', () => {
    const clone = freshCopy();
    const pack = spawnSync('npm', ['pack', '--json'], { cwd: clone, encoding: 'utf8' });
    expect(pack.status, pack.stderr).toBe(0);
    const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
    const shipped = info!.files.map((f) => f.path);
    expect(shipped).toContain('dist/bundle/cli.js');
    expect(shipped).toContain('LICENSE');
    expect(shipped).toContain('docs/store-format.md');
    expect(shipped.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(shipped.filter((f) => f.startsWith('dist/') && !f.startsWith('dist/bundle/'))).toEqual([]);
    for (const f of shipped.filter((x) => x.endsWith('.js') || x.endsWith('.cjs'))) expect(readFileSync(join(clone, f), 'utf8')).not.toContain('sourceMappingURL');
    // every docs link of the README resolves inside the package
    for (const [, link] of readFileSync(join(clone, 'README.md'), 'utf8').matchAll(/\]\(((?!https?:|#)[^)#]+)/g)) expect(shipped).toContain(link);

    const prefix = tempDir('snapgov-prefix-');
    const install = spawnSync('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', join(clone, info!.filename)], { encoding: 'utf8' });
    expect(install.status, install.stderr).toBe(0);
    const bin = join(prefix, 'bin', 'snapgov');
    const home = tempDir('snapgov-home-');
    const sg = (cwd: string, args: string[], env: Record<string, string> = {}): Ran => {
      const r = spawnSync(bin, args, { cwd, encoding: 'utf8', env: { ...process.env, HOME: home, NO_COLOR: '1', ...env }, input: '' });
      return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    };
    const json = <T>(cwd: string, args: string[], env: Record<string, string> = {}): { code: number; doc: T; stderr: string } => {
      const r = sg(cwd, ['--json', ...args], env);
      return { code: r.code, doc: (r.stdout.trim() ? JSON.parse(r.stdout) : JSON.parse(r.stderr.trim().split('\n').pop()!)) as T, stderr: r.stderr };
    };
    expect(sg(home, ['--version']).stdout.trim()).toBe(readJsonFile<{ version: string }>(join(REPO, 'package.json')).version);

    // Monday: an existing repository with a real-world index (list under another key, paths from the root)
    const ws = tempDir('snapgov-week-');
    const model = (n: number, v = 1) => `model ${n} v${v}\n`;
    const catalog = (v: number) => JSON.stringify({ version: v, catalog: { entries: [1, 2, 3].map((n) => ({ id: `m${n}`, file: `models/m${n}.bin`, sha256: sha256(model(n, n === 1 ? v : 1)) })) } }, null, 2);
    writeTree(ws, { 'models/m1.bin': model(1), 'models/m2.bin': model(2), 'models/m3.bin': model(3), 'meta/catalog.json': catalog(1), 'README.md': '# models\n', 'bin/check.sh': { content: '#!/bin/sh\nexit 0\n', mode: 0o755 } });
    const git = (args: string[]) => execFileSync('git', ['-c', 'user.email=a@example.com', '-c', 'user.name=A', ...args], { cwd: ws, encoding: 'utf8' });
    git(['init', '-q']);
    git(['add', '-A']);
    git(['commit', '-qm', 'models']);
    const init = json<{ index: string; indexSettings: { entries: string; pathField: string; relativeTo: string; found: number } }>(ws, ['init', '--index', 'meta/catalog.json']);
    expect(init.code).toBe(0);
    expect(init.doc.indexSettings).toMatchObject({ entries: '/catalog/entries', pathField: 'file', relativeTo: 'workspace', found: 3 });
    expect(sg(ws, ['init', '--force']).stdout).toContain('unchanged');

    // keys where the hints say (outside the workspace), trust required, signing configured
    const keyHint = json<{ error: { hint: string } }>(ws, ['keygen', '--sigstore']);
    expect(keyHint.code).toBe(2);
    const keys = join(home, '.config/snapgov/keys');
    expect(json(ws, ['keygen', '--sigstore', '-o', join(keys, 'ci')]).code).toBe(0);
    const cfgPath = join(ws, 'snapgov.json');
    const cfg = readJsonFile<Record<string, unknown>>(cfgPath);
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, trust: { sigstoreKeys: [join(keys, 'ci.pub')], required: true }, signing: { method: 'sigstore-key', sigstoreKey: join(keys, 'ci.key') }, gates: [{ name: 'index' }, { name: 'check', run: 'sh bin/check.sh' }] }, null, 2));

    const v1 = json<{ id: string; signature: { method: string } }>(ws, ['create', '--sign', '--tag', 'v1', '-m', 'first release']);
    expect(v1.code, v1.stderr).toBe(0);
    expect(v1.doc.signature.method).toBe('key');

    // Tuesday: a new model version, released
    writeTree(ws, { 'models/m1.bin': model(1, 2), 'meta/catalog.json': catalog(2) });
    const v2 = json<{ id: string }>(ws, ['create', '--sign', '--tag', 'v2']);
    expect(v2.code).toBe(0);

    // Wednesday: someone edits the config by hand; the next command audits it
    writeFileSync(cfgPath, JSON.stringify({ ...readJsonFile(cfgPath), exclude: ['.git/**', '**/*.sec.asc', '**/*.key', '**/*.tmp'] }, null, 2));
    expect(json(ws, ['status']).code).toBe(0);

    // Thursday: an incident; roll back to the last known good one
    writeFileSync(join(ws, 'models/m2.bin'), 'garbage');
    const rb = json<{ to: string; safetySnapshot: string; verified: boolean; gates: { ok: boolean }[] }>(ws, ['rollback', '--yes', '--reason', 'INC-1']);
    expect(rb.code, rb.stderr).toBe(0);
    expect(rb.doc.to).toBe(v1.doc.id);
    expect(rb.doc.verified).toBe(true);
    expect(rb.doc.gates.every((g) => g.ok)).toBe(true);
    expect(json<{ id: string }>(ws, ['info', 'latest']).doc.id).toBe(v2.doc.id);
    expect(json<{ id: string }>(ws, ['info', 'live']).doc.id).toBe(v1.doc.id);
    expect(json(ws, ['verify', '--all', '--read-data']).code).toBe(0);

    // Friday: the monthly drill, retention, and a copy to another machine
    const drill = json<{ ok: boolean; scenarios: { failures: string[] }[] }>(ws, ['rehearse', 'v2', '--scenario', 'artifact-bitflip', '--scenario', 'index-garbled']);
    expect(drill.doc.scenarios.flatMap((s) => s.failures)).toEqual([]);
    expect(drill.code).toBe(0);
    const prune = json<{ removed: unknown[] }>(ws, ['prune', '--keep-last', '2']);
    expect(prune.code).toBe(0);
    const tarball = join(tempDir(), 'v2.tar');
    expect(sg(ws, ['export', 'v2', '-o', tarball]).code).toBe(0);
    const other = tempDir('snapgov-host-');
    expect(sg(other, ['init', '--no-index']).code).toBe(0);
    expect(json(other, ['import', tarball]).code).toBe(0);
    expect(json(other, ['verify', v2.doc.id, '--read-data']).code).toBe(0);

    const audit = json<{ entries: { action: string; details?: { changed?: string[] } }[] }>(ws, ['audit']);
    const actions = audit.doc.entries.map((e) => e.action);
    for (const a of ['init', 'config-change', 'create', 'sign', 'rollback', 'rehearse']) expect(actions).toContain(a);
    expect(audit.doc.entries.filter((e) => e.action === 'config-change').flatMap((e) => e.details?.changed ?? [])).toEqual(expect.arrayContaining(['trust', 'signing', 'gates', 'exclude']));
    expect(json(ws, ['audit', 'verify']).code).toBe(0);
  }, 240_000);
});
