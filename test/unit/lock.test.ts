// Imports the built module: reading a lock file validates it against a schema only the build compiles.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { acquireLock } from '../../dist/store/lock.js';
import { REPO, tempDir } from '../helpers/cli.js';

const opts = (waitMs = 0) => ({ waitMs, command: 'test' });

/** This machine's lock identity, taken from a lock the module itself writes. */
async function identity(dir: string): Promise<Record<string, unknown>> {
  const l = await acquireLock(dir, 'shared', opts());
  const info = JSON.parse(readFileSync(l.file, 'utf8')) as Record<string, unknown>;
  l.release();
  return info;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('store lock', () => {
  it.each([
    ['exclusive', 'exclusive', false],
    ['exclusive', 'shared', false],
    ['shared', 'exclusive', false],
    ['shared', 'shared', true],
  ] as const)('held %s, then %s: granted %s', async (first, second, granted) => {
    const dir = tempDir();
    const a = await acquireLock(dir, first, opts());
    const b = acquireLock(dir, second, opts());
    if (granted) (await b).release();
    else await expect(b).rejects.toMatchObject({ code: 'LOCKED' });
    a.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a claimant whose clock reads earlier than a held lock still waits for it', async () => {
    const dir = tempDir();
    const a = await acquireLock(dir, 'exclusive', opts());
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() - 3_600_000);
    await expect(acquireLock(dir, 'exclusive', opts())).rejects.toMatchObject({ code: 'LOCKED', details: { lockFile: a.file } });
    vi.useRealTimers();
    a.release();
  });

  it('a live claimant still choosing its place is waited for, a dead one is cleared', async () => {
    const dir = tempDir();
    const me = await identity(dir);
    const live = spawn('sleep', ['30']);
    const dead = spawnSync('true').pid!;
    try {
      const entering = join(dir, `.enter-${live.pid}-00000000.json`);
      writeFileSync(entering, JSON.stringify({ ...me, pid: live.pid, startTime: 'unknown' }));
      const t0 = Date.now();
      await expect(acquireLock(dir, 'shared', opts())).rejects.toMatchObject({ code: 'LOCKED', details: { lockFile: entering } });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1900);
      writeFileSync(entering, JSON.stringify({ ...me, pid: dead, startTime: 'unknown' }));
      (await acquireLock(dir, 'exclusive', opts())).release();
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      live.kill();
    }
  });

  it('processes racing for the exclusive lock never hold it at once', async () => {
    const dir = tempDir();
    // Each worker takes the lock repeatedly and claims a marker file with O_EXCL inside: an overlap fails the claim.
    const worker = `
      import { openSync, closeSync, rmSync } from 'node:fs';
      import { acquireLock } from ${JSON.stringify(join(REPO, 'dist/store/lock.js'))};
      for (let i = 0; i < 15; i++) {
        const l = await acquireLock(process.argv[1], 'exclusive', { waitMs: 60000, command: 'race' });
        closeSync(openSync(process.argv[1] + '.held', 'wx'));
        await new Promise((r) => setTimeout(r, 1));
        rmSync(process.argv[1] + '.held');
        l.release();
      }`;
    const codes = await Promise.all(
      Array.from({ length: 6 }, () => new Promise<number | null>((done) => spawn(process.execPath, ['--input-type=module', '-e', worker, dir], { stdio: 'inherit' }).on('exit', done))),
    );
    expect(codes).toEqual([0, 0, 0, 0, 0, 0]);
    expect(readdirSync(dir)).toEqual([]);
  }, 60_000);
});
