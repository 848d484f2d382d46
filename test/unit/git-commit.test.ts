// The commit recorded in a snapshot's metadata, read from git's files: each layout below is made
// by real git and the answer compared with `git rev-parse --verify -q HEAD` in the same folder.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gitCommit, readHead } from '../../src/snapshot/git-commit.js';
import { tempDir } from '../helpers/cli.js';

/** The environment without git's own variables (a test run from a git hook would have GIT_DIR set). */
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GIT_')));

function git(dir: string, ...args: string[]): string {
  const r = spawnSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'init.defaultBranch=main', ...args], { encoding: 'utf8', env: ENV });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

/** What git itself says HEAD is in `dir` (null where it names no commit). */
function gitsAnswer(dir: string): { commit: string } | null {
  const r = spawnSync('git', ['-C', dir, 'rev-parse', '--verify', '-q', 'HEAD'], { encoding: 'utf8', env: ENV });
  return r.status === 0 ? { commit: r.stdout.trim() } : null;
}

/** A repository with two commits on main; returns its folder. */
function repo(): string {
  const dir = tempDir();
  git(dir, 'init', '-q');
  for (const n of ['1', '2']) {
    writeFileSync(join(dir, 'f.txt'), n);
    git(dir, 'add', 'f.txt');
    git(dir, 'commit', '-q', '-m', n);
  }
  return dir;
}

describe('gitCommit', () => {
  // Each case: how the layout is made, the folder asked about, and what reading the files finds
  // ('ask-git' where the reader leaves it to git).
  it.each([
    ['a branch with a loose ref', () => repo(), 'commit'],
    ['a branch in packed-refs', () => {
      const d = repo();
      git(d, 'pack-refs', '--all');
      return d;
    }, 'commit'],
    ['a detached HEAD', () => {
      const d = repo();
      git(d, 'checkout', '-q', '--detach', 'HEAD~1');
      return d;
    }, 'commit'],
    ['a subfolder of the work tree', () => {
      const d = repo();
      mkdirSync(join(d, 'sub/deeper'), { recursive: true });
      return join(d, 'sub/deeper');
    }, 'commit'],
    ['a linked worktree (a .git file and a commondir)', () => {
      const d = repo();
      git(d, 'branch', 'other', 'HEAD~1');
      git(d, 'worktree', 'add', '-q', join(d, 'wt'), 'other');
      return join(d, 'wt');
    }, 'commit'],
    ['a branch without commits', () => {
      const d = tempDir();
      git(d, 'init', '-q');
      return d;
    }, null],
    ['HEAD naming a symbolic ref (left to git)', () => {
      const d = repo();
      git(d, 'symbolic-ref', 'refs/heads/alias', 'refs/heads/main');
      git(d, 'symbolic-ref', 'HEAD', 'refs/heads/alias');
      return d;
    }, 'ask-git'],
  ] as [string, () => string, 'commit' | null | 'ask-git'][])('%s', async (_name, make, reads) => {
    const dir = make();
    const expected = gitsAnswer(dir);
    if (reads === 'commit') expect(expected).not.toBeNull();
    if (reads === null) expect(expected).toBeNull();
    expect(await gitCommit(dir, ENV)).toEqual(expected);
    const top = git(dir, 'rev-parse', '--show-toplevel');
    const found = readHead(top);
    expect(reads === 'commit' ? found === expected?.commit : found === reads).toBe(true);
  });

  it('is null outside any work tree', async () => {
    const dir = tempDir();
    expect(gitsAnswer(dir)).toBeNull();
    expect(await gitCommit(dir, ENV)).toBeNull();
  });

  it('asks git when GIT_DIR points elsewhere', async () => {
    const elsewhere = repo();
    const dir = tempDir();
    expect(await gitCommit(dir, { ...ENV, GIT_DIR: join(elsewhere, '.git') })).toEqual(gitsAnswer(elsewhere));
  });
});
