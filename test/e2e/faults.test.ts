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
      const cfg = readJsonFile<Record<string, unknown>>(join(ws, 'snapgov.json'));
      writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, store: { snapshots: store, metadata: 'metadata', rehearsal: 'rehearsal' } }));
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
