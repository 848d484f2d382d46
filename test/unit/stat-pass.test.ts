// The stat pass stats paths relative to the tree's root from the main thread (which moves its
// working folder there for the pass) and with absolute paths from worker threads (which cannot):
// both must see the same, and the main thread's folder must be back afterwards.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { REPO, tempDir } from '../helpers/cli.js';
import { statPaths, STAT_LINK, STAT_MISS, STAT_SKIP, type StatPass } from '../../dist/files/stat-pass.js';
import { StatCache } from '../../dist/store/stat-cache.js';

const RELS = ['a.txt', 'bin/run', 'd/e/f', 'fifo', 'gone', 'link', '../outside', 'd'];

function tree(): string {
  const root = tempDir();
  mkdirSync(join(root, 'bin'));
  mkdirSync(join(root, 'd', 'e'), { recursive: true });
  writeFileSync(join(root, 'a.txt'), 'abc');
  writeFileSync(join(root, 'bin', 'run'), '#!/bin/sh\n');
  chmodSync(join(root, 'bin', 'run'), 0o755);
  writeFileSync(join(root, 'd', 'e', 'f'), 'f'.repeat(1000));
  execFileSync('mkfifo', [join(root, 'fifo')]);
  symlinkSync('a.txt', join(root, 'link'));
  return root;
}

const plain = (p: StatPass) => ({ kinds: [...p.kinds], sizes: [...p.sizes], modes: [...p.modes].map((m) => m & 0o777), texts: p.texts });

function inWorker(root: string): Promise<ReturnType<typeof plain>> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    (async () => {
      const { statPaths } = await import(workerData.pass);
      const { StatCache } = await import(workerData.cache);
      const p = statPaths(workerData.root, workerData.rels, StatCache.empty(), null);
      parentPort.postMessage({ kinds: [...p.kinds], sizes: [...p.sizes], modes: [...p.modes].map((m) => m & 0o777), texts: p.texts });
    })();`;
  const worker = new Worker(code, { eval: true, workerData: { root, rels: RELS, pass: join(REPO, 'dist/files/stat-pass.js'), cache: join(REPO, 'dist/store/stat-cache.js') } });
  return new Promise((resolve, reject) => {
    worker.once('message', (m: ReturnType<typeof plain>) => void worker.terminate().then(() => resolve(m)));
    worker.once('error', reject);
  });
}

describe('stat pass', () => {
  it('classifies each path, and leaves the working folder as it was', () => {
    const root = tree();
    const before = process.cwd();
    const p = plain(statPaths(root, RELS, StatCache.empty(), null));
    expect(process.cwd()).toBe(before);
    expect(p.kinds).toEqual([STAT_MISS, STAT_MISS, STAT_MISS, STAT_SKIP, STAT_SKIP, STAT_LINK, STAT_SKIP, STAT_SKIP]);
    expect(p.sizes.slice(0, 3)).toEqual([3, 10, 1000]);
    expect(p.modes[1]).toBe(0o755);
    expect(p.texts).toEqual({
      3: 'not a regular file or symlink (socket, FIFO or device)',
      4: 'the file disappeared while the tree was read',
      5: 'a.txt',
      6: 'unsupported file name: ".." path segment',
      7: 'became a directory while the tree was read',
    });
  });

  it('sees the same from a worker thread, where the working folder cannot move', async () => {
    const root = tree();
    expect(await inWorker(root)).toEqual(plain(statPaths(root, RELS, StatCache.empty(), null)));
  });
});
