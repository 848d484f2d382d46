import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** A commit name: SHA-1, or SHA-256 in repositories that use it. */
const COMMIT = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
/** The refs git keeps in the repository's common folder, shared by all its worktrees. */
const SHARED_REF = /^refs\/(?:heads|tags|remotes)\/[^\s]+$/;

/** What reading git's files found: a commit, no commit (an unborn branch), or a layout left to git itself. */
type Found = string | null | 'ask-git';

/** The folder holding `.git` at or above `dir`, or null outside any work tree. */
function workTreeOf(dir: string): string | null {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, '.git'))) return d;
    if (dirname(d) === d) return null;
  }
}

const read = (path: string): string | null => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};

/** Where `ref` points: its loose file, else its line in packed-refs; null when it does not exist (yet). */
function resolveRef(common: string, ref: string): Found {
  const loose = read(join(common, ref));
  if (loose !== null) {
    const hash = loose.trim();
    return COMMIT.test(hash) ? hash : 'ask-git'; // a symbolic ref, or something unexpected
  }
  for (const line of (read(join(common, 'packed-refs')) ?? '').split('\n')) {
    const sp = line.indexOf(' ');
    if (sp !== -1 && line.slice(sp + 1) === ref) return COMMIT.test(line.slice(0, sp)) ? line.slice(0, sp) : 'ask-git';
  }
  return null;
}

/**
 * HEAD's commit from git's own files, for the common layouts: a `.git` folder or a `.git` file
 * naming one (worktrees, submodules, with a `commondir`), HEAD detached or naming a branch, tag or
 * remote ref, loose or packed. Anything else (the reftable format, a symbolic ref behind HEAD, a
 * file that does not read as expected) is left to git.
 */
export function readHead(workTree: string): Found {
  const dotGit = join(workTree, '.git');
  let gitDir = dotGit;
  if (read(join(dotGit, 'HEAD')) === null) {
    const link = /^gitdir: (.+)$/m.exec(read(dotGit) ?? '');
    if (!link) return 'ask-git';
    gitDir = resolve(workTree, link[1]!.trim());
  }
  const commonLink = read(join(gitDir, 'commondir'));
  const common = commonLink === null ? gitDir : resolve(gitDir, commonLink.trim());
  if (existsSync(join(common, 'reftable'))) return 'ask-git';
  const head = (read(join(gitDir, 'HEAD')) ?? '').trim();
  if (COMMIT.test(head)) return head;
  const ref = /^ref: (.+)$/.exec(head)?.[1];
  return ref !== undefined && SHARED_REF.test(ref) ? resolveRef(common, ref) : 'ask-git';
}

function askGit(root: string, env: NodeJS.ProcessEnv): Promise<{ commit: string } | null> {
  return new Promise((done) => {
    execFile('git', ['-C', root, 'rev-parse', '--verify', '-q', 'HEAD'], { encoding: 'utf8', env }, (err, stdout) => {
      const c = err ? '' : stdout.trim();
      done(COMMIT.test(c) ? { commit: c } : null);
    });
  });
}

/** Variables that change where git looks for its folders: with any of them set, git is asked. */
const DISCOVERY_VARS = ['GIT_DIR', 'GIT_COMMON_DIR', 'GIT_WORK_TREE', 'GIT_CEILING_DIRECTORIES', 'GIT_DISCOVERY_ACROSS_FILESYSTEM'];

/**
 * The commit the workspace's git work tree is at (null outside git, or on a branch without
 * commits). Read from git's files where their layout is the common one: starting git costs a
 * rollback of 10,000 files about 30 ms here, its start-up competing with the scan for the
 * machine's cores. Never rejects.
 */
export function gitCommit(root: string, env: NodeJS.ProcessEnv = process.env): Promise<{ commit: string } | null> {
  if (DISCOVERY_VARS.some((v) => env[v] !== undefined)) return askGit(root, env);
  const workTree = workTreeOf(root);
  if (workTree === null) return Promise.resolve(null);
  const found = readHead(workTree);
  if (found === 'ask-git') return askGit(root, env);
  return Promise.resolve(found === null ? null : { commit: found });
}
