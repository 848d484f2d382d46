import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { BIN, readJsonFile, run, runJson, sampleWorkspace, tempDir } from '../helpers/cli.js';

function tryMountTmpfs(dir: string, size: string): boolean {
  mkdirSync(dir, { recursive: true });
  return spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]).status === 0;
}

/** Points the workspace's content-addressed store at `dir` (the small file system). */
function snapshotsOn(ws: string, dir: string): void {
  const cfg = readJsonFile<Record<string, unknown>>(join(ws, 'snapgov.json'));
  writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, store: { snapshots: dir, metadata: 'metadata', rehearsal: 'rehearsal' } }));
}

const canMount = (() => {
  const d = tempDir('snapgov-mountprobe-');
  const ok = tryMountTmpfs(join(d, 'm'), '1m');
  if (ok) spawnSync('umount', [join(d, 'm')]);
  return ok;
})();

describe('faults', () => {
  it.skipIf(!canMount)('a full disk fails create with a clear error, removes temp files and leaves the store valid', () => {
    const ws = sampleWorkspace();
    const store = join(tempDir('snapgov-small-'), 'store');
    expect(tryMountTmpfs(store, '4m')).toBe(true);
    try {
      snapshotsOn(ws, store);
      const first = runJson<{ id: string }>(ws, ['create']);
      expect(first.code).toBe(0);
      writeFileSync(join(ws, 'huge.bin'), randomBytes(6 << 20));
      const r = runJson(ws, ['create']);
      expect(r.code).toBe(1);
      expect(r.error!.code).toBe('NO_SPACE');
      expect(r.error!.message).toMatch(/no space left/);
      expect(readdirSync(join(store, 'tmp'))).toEqual([]);
      const v = runJson<{ ok: boolean; snapshots: unknown[] }>(ws, ['verify', '--all', '--read-data']);
      expect(v.code).toBe(0);
      expect(v.doc.snapshots).toHaveLength(1);
      expect(runJson<{ ok: boolean }>(ws, ['audit', 'verify']).doc.ok).toBe(true);
    } finally {
      spawnSync('umount', [store]);
    }
  });

  it.skipIf(!canMount)('a full disk stops a rollback with a clear error: every file old or new, no temp file, resumable', () => {
    const root = join(tempDir('snapgov-small-'), 'live');
    expect(tryMountTmpfs(root, '32m')).toBe(true);
    try {
      // the live tree on the small file system, the store elsewhere
      const store = tempDir('snapgov-store-');
      for (const d of ['s', 'm', 'r']) mkdirSync(join(store, d));
      writeFileSync(join(root, 'snapgov.json'), JSON.stringify({ version: 1, index: null, store: { snapshots: join(store, 's'), metadata: join(store, 'm'), rehearsal: join(store, 'r') } }));
      writeFileSync(join(root, 'small.txt'), 'v1\n');
      writeFileSync(join(root, 'big.bin'), randomBytes(10 << 20));
      const a = runJson<{ id: string }>(root, ['create']).doc.id;
      const oldSmall = readFileSync(join(root, 'small.txt'), 'utf8');
      spawnSync('rm', [join(root, 'big.bin')]);
      writeFileSync(join(root, 'small.txt'), 'v2\n');
      expect(runJson(root, ['create']).code).toBe(0);
      expect(spawnSync('mount', ['-o', 'remount,size=4m', root]).status).toBe(0);
      const r = runJson(root, ['rollback', a, '--yes']);
      expect(r.code).toBe(1);
      expect(r.error!.code).toBe('NO_SPACE');
      expect(r.error!.message).toMatch(/stopped part-way: no space left/);
      expect(r.error!.hint).toMatch(/rollback --resume/);
      expect(readdirSync(root).filter((n) => n.includes('.snapgov-tmp-'))).toEqual([]);
      expect(['v1\n', 'v2\n']).toContain(readFileSync(join(root, 'small.txt'), 'utf8'));
      expect(runJson(root, ['verify', '--all', '--read-data']).code).toBe(0);
      expect(spawnSync('mount', ['-o', 'remount,size=32m', root]).status).toBe(0);
      const again = runJson(root, ['rollback', '--resume', '--yes']);
      expect(again.code, again.stderr).toBe(0);
      expect(readFileSync(join(root, 'small.txt'), 'utf8')).toBe(oldSmall);
      expect(runJson(root, ['verify', a, '--worktree']).code).toBe(0);
    } finally {
      spawnSync('umount', [root]);
    }
  });

  it.skipIf(!canMount)('a full disk fails an import with a clear error, no temp file, and a store that verifies', () => {
    const src = sampleWorkspace({ 'model.bin': randomBytes(6 << 20) });
    const id = runJson<{ id: string }>(src, ['create']).doc.id;
    const tar = join(tempDir(), 'snap.tar');
    expect(run(src, ['export', id, '-o', tar]).code).toBe(0);
    const ws = sampleWorkspace();
    const store = join(tempDir('snapgov-small-'), 'store');
    expect(tryMountTmpfs(store, '4m')).toBe(true);
    try {
      snapshotsOn(ws, store);
      expect(runJson(ws, ['create']).code).toBe(0);
      const r = runJson(ws, ['import', tar]);
      expect(r.code).toBe(1);
      expect(r.error!.code).toBe('NO_SPACE');
      expect(readdirSync(join(store, 'tmp'))).toEqual([]);
      const v = runJson<{ snapshots: { id: string }[] }>(ws, ['verify', '--all', '--read-data']);
      expect(v.code).toBe(0);
      expect(v.doc.snapshots.map((s) => s.id)).not.toContain(id);
    } finally {
      spawnSync('umount', [store]);
    }
  });

  it('SIGINT while waiting for the lock exits 130 and leaves no lock or temp file behind', async () => {
    const ws = sampleWorkspace();
    const holder = spawn('sleep', ['30']);
    const locks = join(ws, 'snapshots/locks');
    const startTime = readFileSync(`/proc/${holder.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19];
    writeFileSync(
      join(locks, 'exclusive-held.json'),
      JSON.stringify({ kind: 'exclusive', pid: holder.pid, host: hostname(), machineId: readFileSync('/etc/machine-id', 'utf8').trim(), bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), startTime, time: '2026-01-01T00:00:00.000Z', command: 'prune' }),
    );
    try {
      const child = spawn(process.execPath, [BIN, '--json', '--lock-wait', '60s', 'create'], { cwd: ws });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      await new Promise((r) => setTimeout(r, 1500));
      child.kill('SIGINT');
      const code = await new Promise<number | null>((r) => child.on('close', r));
      expect(code).toBe(130);
      expect(JSON.parse(stderr.trim()).error.code).toBe('INTERRUPTED');
      expect(readdirSync(locks)).toEqual(['exclusive-held.json']);
      expect(readdirSync(join(ws, 'snapshots/tmp'))).toEqual([]);
    } finally {
      holder.kill();
    }
  });
});
