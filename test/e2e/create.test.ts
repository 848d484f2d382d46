import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { listFiles, readJsonFile, run, runAsync, runJson, sampleWorkspace, sha256, tempDir, writeTree } from '../helpers/cli.js';

interface Created {
  id: string;
  created: boolean;
  files: number;
  bytes: number;
  newBytes: number;
  incomplete: boolean;
  durationMs: number;
  skipped: { path: string; reason: string }[];
  index: { path: string; artifacts: number; consistent: boolean } | null;
}

const hexOf = (id: string) => id.slice(7);

describe('snapgov create', () => {
  it('stores a content-addressed snapshot that anyone can check with sha256sum', () => {
    const ws = sampleWorkspace();
    const r = runJson<Created>(ws, ['create', '--trigger', 'ci', '--env', 'prod', '--tag', 'release', '--tag', 'v1', '--label', 'ticket=INC-1', '-m', 'first']);
    expect(r.code).toBe(0);
    expect(r.doc).toMatchObject({ created: true, files: 5, incomplete: false, index: { path: 'artifacts/index.json', artifacts: 2, consistent: true } });
    expect(r.doc.id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(typeof r.doc.durationMs).toBe('number');
    expect(r.doc.newBytes).toBe(r.doc.bytes);

    const manifestFile = join(ws, 'snapshots/manifests', `${hexOf(r.doc.id)}.json`);
    const bytes = readFileSync(manifestFile);
    expect(sha256(bytes)).toBe(hexOf(r.doc.id));
    expect(lstatSync(manifestFile).mode & 0o222).toBe(0);
    const manifest = JSON.parse(bytes.toString()) as { entries: { path: string; type: string; mode?: string; sha256?: string; target?: string }[] };
    expect(manifest.entries.map((e) => e.path)).toEqual(['artifacts/index.json', 'artifacts/rules/a.yaml', 'artifacts/rules/b.yaml', 'bin/deploy.sh', 'current']);
    expect(manifest.entries.find((e) => e.path === 'bin/deploy.sh')!.mode).toBe('0755');
    expect(manifest.entries.find((e) => e.path === 'current')).toEqual({ path: 'current', type: 'symlink', target: 'artifacts/rules/a.yaml' });
    expect(manifest.entries.find((e) => e.path === 'artifacts/rules/a.yaml')!.sha256).toBe(sha256('rule: a\n'));
    // store folders and the config are never part of the tree
    expect(manifest.entries.some((e) => /^(snapshots|metadata|rehearsal)\//.test(e.path) || e.path === 'snapgov.json')).toBe(false);

    const md = readJsonFile<Record<string, unknown>>(join(ws, 'metadata', `${hexOf(r.doc.id)}.json`));
    expect(md).toMatchObject({ id: r.doc.id, trigger: 'ci', env: 'prod', tags: ['release', 'v1'], labels: { ticket: 'INC-1' }, message: 'first', incomplete: false, signatures: [] });
    expect(md.stats).toMatchObject({ files: 5, bytes: r.doc.bytes });
    expect(readJsonFile(join(ws, 'metadata/live.json'))).toMatchObject({ id: r.doc.id, action: 'create' });
    expect(readdirSync(join(ws, 'snapshots/tmp'))).toEqual([]);
  });

  it('reports an unchanged tree as the existing snapshot, and a change as a new one sharing objects', () => {
    const ws = sampleWorkspace();
    const first = runJson<Created>(ws, ['create']).doc;
    const again = runJson<Created>(ws, ['create', '--tag', 'ignored']);
    expect(again.code).toBe(0);
    expect(again.doc).toMatchObject({ id: first.id, created: false, newBytes: 0 });
    expect(again.stderr).toBe('');
    expect(readdirSync(join(ws, 'snapshots/manifests'))).toHaveLength(1);
    const human = run(ws, ['create', '--tag', 'x']);
    expect(human.stderr).toMatch(/unchanged.*--tag/);
    const quiet = run(ws, ['create', '--quiet', '--tag', 'x']);
    expect([quiet.code, quiet.stdout, quiet.stderr]).toEqual([0, '', '']);

    writeFileSync(join(ws, 'artifacts/rules/c.yaml'), 'rule: c\n');
    const second = runJson<Created>(ws, ['create']).doc;
    expect(second.created).toBe(true);
    expect(second.id).not.toBe(first.id);
    expect(second.newBytes).toBe(Buffer.byteLength('rule: c\n'));
    expect(runJson<{ snapshots: unknown[] }>(ws, ['list']).doc.snapshots).toHaveLength(2);
  });

  it('gives the same tree the same ID in another workspace', () => {
    const a = sampleWorkspace();
    const b = sampleWorkspace();
    expect(runJson<Created>(a, ['create']).doc.id).toBe(runJson<Created>(b, ['create', '--time', '2020-01-01T00:00:00Z']).doc.id);
  });

  it('stores large files as loose objects named by their hash and re-reads only changed files', () => {
    const big = randomBytes(3 << 20);
    const ws = sampleWorkspace({ 'models/big.bin': big });
    const r = runJson<Created>(ws, ['create']).doc;
    const h = sha256(big);
    const loose = join(ws, 'snapshots/objects', h.slice(0, 2), h);
    expect(sha256(readFileSync(loose))).toBe(h);
    expect(lstatSync(loose).mode & 0o222).toBe(0);
    expect(r.newBytes).toBeGreaterThanOrEqual(big.length);
    // modify a byte of the big file, keep its size: the stat cache must notice (mtime/ctime change)
    const changed = Buffer.from(big);
    changed[12345] = changed[12345]! ^ 0xff;
    writeFileSync(join(ws, 'models/big.bin'), changed);
    const r2 = runJson<Created>(ws, ['create']).doc;
    expect(r2.created).toBe(true);
    expect(runJson<{ modified: string[] }>(ws, ['diff', r.id, r2.id]).doc.modified).toEqual(['models/big.bin']);
    expect(runJson<{ ok: boolean }>(ws, ['verify', '--all', '--read-data']).doc.ok).toBe(true);
  });

  it('repairs an existing snapshot whose object went missing when the same tree is snapshotted again', () => {
    const big = randomBytes(2 << 20);
    const ws = sampleWorkspace({ 'model.bin': big });
    const first = runJson<Created>(ws, ['create']).doc;
    const h = sha256(big);
    rmSync(join(ws, 'snapshots/objects', h.slice(0, 2), h));
    expect(runJson(ws, ['verify']).code).toBe(1);
    const again = runJson<Created>(ws, ['create']);
    expect(again.code).toBe(0);
    expect(again.doc).toMatchObject({ id: first.id, created: false, newObjects: 1, newBytes: big.length });
    expect(runJson<{ ok: boolean }>(ws, ['verify', '--read-data']).doc.ok).toBe(true);
  });

  it('records the git commit of a workspace inside a git work tree, and none outside one', () => {
    const outside = sampleWorkspace();
    const a = runJson<{ id: string }>(outside, ['create']).doc.id;
    expect(readJsonFile<{ git: unknown }>(join(outside, 'metadata', `${a.slice(7)}.json`)).git).toBeNull();

    const ws = tempDir(); // a git work tree that is not itself a workspace (workspaces do not nest)
    writeTree(ws, { 'artifacts/index.json': '{"artifacts":[]}' });
    const git = (...args: string[]) => spawnSync('git', ['-C', ws, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { encoding: 'utf8' });
    expect(git('init', '-q').status).toBe(0); // .ci/run installs git
    git('add', 'artifacts');
    git('commit', '-q', '-m', 'x');
    const head = git('rev-parse', 'HEAD').stdout.trim();
    // A subfolder workspace finds the .git above it.
    const sub = join(ws, 'artifacts');
    runJson(sub, ['init', '--no-index']);
    const b = runJson<{ id: string }>(sub, ['create']).doc.id;
    expect(readJsonFile<{ git: { commit: string } }>(join(sub, 'metadata', `${b.slice(7)}.json`)).git).toEqual({ commit: head });
  });

  it('records --time, rejects a bad time, trigger or label with exit 2', () => {
    const ws = sampleWorkspace();
    const r = runJson<Created>(ws, ['create', '--time', '2026-01-31T12:00:00+01:00']);
    expect(runJson<{ time: string }>(ws, ['info', r.doc.id]).doc.time).toBe('2026-01-31T11:00:00.000Z');
    writeFileSync(join(ws, 'x'), 'x');
    for (const args of [['--time', 'yesterday'], ['--trigger', 'pre-rollback'], ['--label', 'novalue'], ['--tag', ' ']]) {
      const bad = runJson(ws, ['create', ...args]);
      expect(bad.code, args.join(' ')).toBe(2);
    }
    expect(runJson<{ snapshots: unknown[] }>(ws, ['list']).doc.snapshots).toHaveLength(1);
  });

  it('refuses an inconsistent artifact index (exit 1, naming the entries) unless allowed', () => {
    const ws = sampleWorkspace();
    writeFileSync(join(ws, 'artifacts/rules/a.yaml'), 'rule: tampered\n');
    rmSync(join(ws, 'artifacts/rules/b.yaml'));
    const r = runJson(ws, ['create']);
    expect(r.code).toBe(1);
    expect(r.error!.code).toBe('INDEX_INCONSISTENT');
    expect(r.error!.message).toMatch(/artifacts\/rules\/a\.yaml/);
    expect(r.error!.message).toMatch(/artifacts\/rules\/b\.yaml/);
    expect(readdirSync(join(ws, 'snapshots/manifests'))).toEqual([]);
    expect(readdirSync(join(ws, 'snapshots/tmp'))).toEqual([]);
    const ok = runJson<Created>(ws, ['create', '--allow-inconsistent-index']);
    expect(ok.code).toBe(0);
    expect(ok.doc.index!.consistent).toBe(false);

    writeFileSync(join(ws, 'artifacts/index.json'), '{broken');
    const nojson = runJson(ws, ['create']);
    expect(nojson.code).toBe(1);
    expect(nojson.error!.message).toMatch(/cannot be parsed/);
  });

  it('validates the index against its JSON Schema when one is configured', () => {
    const ws = sampleWorkspace({ 'artifacts/index.schema.json': JSON.stringify({ type: 'object', required: ['version'] }) });
    const cfg = readJsonFile<Record<string, unknown>>(join(ws, 'snapgov.json'));
    writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, index: { path: 'artifacts/index.json', schema: 'artifacts/index.schema.json' } }));
    const r = runJson(ws, ['create']);
    expect(r.code).toBe(1);
    expect(r.error!.message).toMatch(/version/);
  });

  it('fails on a file it cannot read; --allow-partial makes an incomplete snapshot with exit 3', () => {
    const ws = sampleWorkspace();
    spawnSync('mkfifo', [join(ws, 'artifacts/pipe')]);
    const r = runJson(ws, ['create']);
    expect(r.code).toBe(1);
    expect(r.error!.code).toBe('FILE_UNREADABLE');
    expect(r.error!.message).toMatch(/artifacts\/pipe/);
    expect(r.error!.hint).toMatch(/--allow-partial/);
    expect(readdirSync(join(ws, 'metadata')).filter((n) => /^[0-9a-f]{64}\.json$/.test(n))).toEqual([]);

    const p = runJson<Created>(ws, ['create', '--allow-partial']);
    expect(p.code).toBe(3);
    expect(p.doc.incomplete).toBe(true);
    expect(p.doc.skipped.map((s) => s.path)).toEqual(['artifacts/pipe']);
    const md = readJsonFile<{ incomplete: boolean; skipped: unknown[] }>(join(ws, 'metadata', `${hexOf(p.doc.id)}.json`));
    expect(md.incomplete).toBe(true);
    expect(md.skipped).toHaveLength(1);
  });

  it('honours include and exclude globs and never follows a symlinked folder', () => {
    const outside = tempDir();
    writeTree(outside, { 'secret.txt': 'secret' });
    const ws = tempDir();
    writeTree(ws, { 'cfg/a.json': '{}', 'cfg/b.tmp': 'x', 'docs/readme.md': 'r', '.git/HEAD': 'ref', 'cfg/out': { symlink: outside } });
    expect(run(ws, ['init', '--no-index', '--include', 'cfg/**', '--exclude', '**/*.tmp']).code).toBe(0);
    const r = runJson<Created>(ws, ['create']).doc;
    const m = JSON.parse(readFileSync(join(ws, 'snapshots/manifests', `${hexOf(r.id)}.json`), 'utf8')) as { entries: { path: string; type: string }[] };
    expect(m.entries.map((e) => `${e.path}:${e.type}`)).toEqual(['cfg/a.json:file', 'cfg/out:symlink']);
  });

  it('fails with exit 11 while another live process holds the lock, breaks a stale lock, and waits with --lock-wait', async () => {
    const ws = sampleWorkspace();
    const locks = join(ws, 'snapshots/locks');
    const machineId = readFileSync('/etc/machine-id', 'utf8').trim();
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const holder = spawn('sleep', ['30']);
    const startTime = readFileSync(`/proc/${holder.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19];
    const lockInfo = (pid: number, st: string) => JSON.stringify({ kind: 'exclusive', pid, host: hostname(), machineId, bootId, startTime: st, time: '2026-01-01T00:00:00.000Z', command: 'create' });
    try {
      writeFileSync(join(locks, 'exclusive-live.json'), lockInfo(holder.pid!, startTime!));
      const r = runJson(ws, ['create']);
      expect(r.code).toBe(11);
      expect(r.error!.code).toBe('LOCKED');
      expect(r.error!.message).toMatch(new RegExp(`pid ${holder.pid}`));
      expect(readdirSync(join(ws, 'metadata')).filter((n) => /^[0-9a-f]{64}\.json$/.test(n))).toEqual([]);

      // released one second into a five-second wait
      setTimeout(() => rmSync(join(locks, 'exclusive-live.json')), 1000);
      const waited = await runAsync(ws, ['--json', '--lock-wait', '5s', 'create']);
      expect(waited.code).toBe(0);
    } finally {
      holder.kill();
    }
    // a lock left by a dead process on this machine is broken automatically
    writeFileSync(join(ws, 'artifacts/new.txt'), 'n');
    writeFileSync(join(locks, 'exclusive-dead.json'), lockInfo(2 ** 22 + 12345, '1'));
    expect(run(ws, ['create']).code).toBe(0);
    expect(existsSync(join(locks, 'exclusive-dead.json'))).toBe(false);
  });

  it('two creates at once both finish and the store verifies', async () => {
    const ws = sampleWorkspace();
    const [a, b] = await Promise.all([runAsync(ws, ['--lock-wait', '30s', 'create']), runAsync(ws, ['--lock-wait', '30s', 'create'])]);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(runJson<{ ok: boolean }>(ws, ['verify', '--all', '--read-data']).doc.ok).toBe(true);
    expect(listFiles(join(ws, 'snapshots/locks'))).toEqual([]);
  });

  it('handles names with spaces, unicode and empty files', () => {
    const ws = tempDir();
    writeTree(ws, { 'a dir/ü ñ 日本.txt': 'x', 'empty': '', 'x/y/z/deep.txt': 'deep' });
    chmodSync(join(ws, 'empty'), 0o600);
    expect(run(ws, ['init']).code).toBe(0);
    const r = runJson<Created>(ws, ['create']);
    expect(r.code).toBe(0);
    expect(r.doc.files).toBe(3);
    expect(runJson<{ ok: boolean }>(ws, ['verify', '--read-data', '--worktree']).doc.ok).toBe(true);
  });

  it('reads a tree of over 20,000 files (stat pass shared with a thread) exactly: files, links, unreadable ones, changes anywhere', () => {
    const ws = tempDir();
    expect(run(ws, ['init', '--no-index']).code).toBe(0);
    const dirs = 41;
    const per = 500;
    const name = (d: number, f: number) => `d${String(d).padStart(2, '0')}/f${f}.txt`;
    for (let d = 0; d < dirs; d++) {
      mkdirSync(join(ws, `d${String(d).padStart(2, '0')}`));
      for (let f = 0; f < per; f++) writeFileSync(join(ws, name(d, f)), `${d}/${f}\n`);
    }
    symlinkSync('f1.txt', join(ws, 'd00/link'));
    symlinkSync('../d00/f2.txt', join(ws, `d${dirs - 1}/link`));
    spawnSync('mkfifo', [join(ws, `d${dirs - 1}/pipe`)]);

    const first = runJson<Created>(ws, ['create', '--allow-partial']);
    expect(first.code).toBe(3);
    expect(first.doc).toMatchObject({ files: dirs * per + 2, incomplete: true });
    expect(first.doc.skipped.map((s) => s.path)).toEqual([`d${dirs - 1}/pipe`]);
    const manifest = readJsonFile<{ entries: { path: string; type: string; sha256?: string; target?: string }[] }>(join(ws, 'snapshots/manifests', `${hexOf(first.doc.id)}.json`));
    const byPath = new Map(manifest.entries.map((e) => [e.path, e]));
    for (let d = 0; d < dirs; d++) for (const f of [0, per - 1]) expect(byPath.get(name(d, f))?.sha256).toBe(sha256(`${d}/${f}\n`));
    expect(byPath.get(`d${dirs - 1}/link`)).toEqual({ path: `d${dirs - 1}/link`, type: 'symlink', target: '../d00/f2.txt' });

    // One change in every folder, so both halves of the stat pass see some; the rest come from the cache.
    rmSync(join(ws, `d${dirs - 1}/pipe`));
    for (let d = 0; d < dirs; d++) writeFileSync(join(ws, name(d, 7)), 'changed\n');
    const second = runJson<Created>(ws, ['create']);
    expect(second.code).toBe(0);
    expect(second.doc).toMatchObject({ created: true, files: dirs * per + 2, incomplete: false });
    const d = runJson<{ added: string[]; removed: string[]; modified: string[] }>(ws, ['diff', first.doc.id, second.doc.id]).doc;
    expect(d).toMatchObject({ added: [], removed: [], modified: Array.from({ length: dirs }, (_, i) => name(i, 7)) });
    expect(runJson<Created>(ws, ['create']).doc).toMatchObject({ id: second.doc.id, created: false });
    expect(runJson<{ ok: boolean }>(ws, ['verify', '--worktree']).doc.ok).toBe(true);
  });
});
