import { closeSync, constants, fchmodSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, rmdirSync, rmSync, symlinkSync, unlinkSync, type Stats } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import type { RollbackPlan } from '../core/rollback-plan.js';
import { SnapgovError } from '../errors.js';
import { ObjectReadError, type ObjectIndex } from '../store/objects.js';
import { asBuffer, batches, WorkerPool } from '../pool/pool.js';
import { TEMP_MARK, tempBeside, TreeWriter, type StageItem, type Staged } from '../files/tree-writer.js';
import type { StoreLayout } from '../store/layout.js';
import { faultPoint } from '../util/fault.js';
import { removeMatching } from '../util/fsx.js';
import { boundedList } from '../util/text.js';

function lstatOrNull(p: string): Stats | null {
  // throwIfNoEntry: a missing path is the common case in a restore, and exceptions are costly.
  try {
    return lstatSync(p, { throwIfNoEntry: false }) ?? null;
  } catch {
    return null; // ENOTDIR: a parent is a file
  }
}

export interface Preflight {
  /** Destinations that are folders now, holding only files the plan removes. */
  replaceDirs: Set<string>;
  /** A managed file or symlink stands where the target needs a folder: it must go before anything is written. */
  removalsFirst: boolean;
}

/**
 * Before anything changes: every folder the target needs must be a real folder (never a symlink,
 * which would make writes land outside the tree) or missing, unless the plan removes what is
 * there; and every path to be written that is now a folder must hold only managed files the plan
 * removes. Anything else is an unmanaged file in the way: refuse rather than touch it.
 */
export function preflight(root: string, plan: RollbackPlan): Preflight {
  const removed = new Set(plan.remove.map((e) => e.path));
  const checked = new Map<string, boolean>();
  const problems: string[] = [];
  let removalsFirst = false;
  const dirOk = (dir: string): boolean => {
    let ok = checked.get(dir);
    if (ok === undefined) {
      const st = lstatOrNull(join(root, dir));
      ok = st === null || st.isDirectory() || removed.has(dir);
      if (st !== null && !st.isDirectory() && ok) removalsFirst = true;
      if (!ok) problems.push(`${dir} is ${st!.isSymbolicLink() ? 'a symlink' : 'a file'} outside the managed set, where the target needs a folder`);
      checked.set(dir, ok);
    }
    return ok;
  };
  const onlyRemoved = (dir: string): boolean =>
    readdirSync(join(root, dir), { withFileTypes: true }).every((d) => {
      const rel = `${dir}/${d.name}`;
      return d.isDirectory() ? onlyRemoved(rel) : removed.has(rel);
    });
  const replaceDirs = new Set<string>();
  for (const e of [...plan.write, ...plan.link]) {
    for (let k = e.path.indexOf('/'); k !== -1; k = e.path.indexOf('/', k + 1)) if (!dirOk(e.path.slice(0, k))) break;
    const abs = join(root, e.path);
    const st = lstatOrNull(abs);
    if (st?.isDirectory()) {
      if (onlyRemoved(e.path)) replaceDirs.add(abs);
      else problems.push(`${e.path} is a folder holding files outside the managed set, where the target has a ${e.type}`);
    }
  }
  if (problems.length) {
    throw new SnapgovError('ROLLBACK_BLOCKED', `the live tree cannot be rolled back without touching unmanaged files: ${boundedList(problems, 5)}`, 'move those files away or add them to the managed set (include/exclude in snapgov.json), then run the rollback again; nothing was changed');
  }
  return { replaceDirs, removalsFirst };
}

/** One durability barrier for many files or folders: syncfs via coreutils `sync -f`, else fsync each one. */
function barrier(root: string, paths: readonly string[]): void {
  if (paths.length === 0) return;
  const r = spawnSync('sync', ['-f', root], { stdio: 'ignore' });
  if (r.status === 0) return;
  for (const f of paths) {
    const fd = openSync(f, constants.O_RDONLY);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * Starts writing staged data out while staging goes on: the kernel would begin only at the final
 * barrier (1 GiB is far below its background threshold), which then waits for all of it at disk
 * speed. A `sync -f` in the background after every WRITEBACK_STEP bytes overlaps that wait with the
 * reading and hashing; durability still comes from the barrier.
 */
const WRITEBACK_STEP = 128 << 20;
class EarlyWriteback {
  private pending = 0;
  private running: Promise<void> | null = null;
  constructor(private readonly root: string) {}

  staged(bytes: number): void {
    this.pending += bytes;
    if (this.pending < WRITEBACK_STEP || this.running) return;
    this.pending = 0;
    this.running = new Promise<void>((done) => {
      spawn('sync', ['-f', this.root], { stdio: 'ignore' }).on('close', () => done()).on('error', () => done());
    }).then(() => {
      this.running = null;
    });
  }

  async done(): Promise<void> {
    while (this.running) await this.running;
  }
}

/** Creates the folders of `rel` that are missing; `made` lists the folders seen, `created` the ones made. */
function mkdirs(root: string, rel: string, made: Set<string>, created: string[]): void {
  // Each component is created or found as a real folder; preflight has refused symlinks in the way.
  for (let k = rel.indexOf('/'); k !== -1; k = rel.indexOf('/', k + 1)) {
    const dir = rel.slice(0, k);
    if (made.has(dir)) continue;
    const abs = join(root, dir);
    const st = lstatOrNull(abs);
    if (st === null) {
      mkdirSync(abs);
      created.push(abs);
    } else if (!st.isDirectory()) throw new SnapgovError('ROLLBACK_BLOCKED', `${dir} is not a folder`, 'run the rollback again');
    made.add(dir);
  }
}

function removePath(abs: string): void {
  const st = lstatOrNull(abs);
  if (st === null) return;
  // A managed file that became a folder since the plan was made is not ours to delete wholesale.
  if (st.isDirectory()) throw new SnapgovError('ROLLBACK_BLOCKED', `${abs} became a folder while the rollback ran`, 'run the rollback again');
  unlinkSync(abs);
}

export interface ApplyStats {
  written: number;
  linked: number;
  removed: number;
  modeChanged: number;
  bytesWritten: number;
  /** Stat-cache records of the files written (see TreeWriter.rename). */
  records: Buffer[];
}

/** Below this many files to write, threads cost more than they save. */
const PARALLEL_MIN_FILES = 2000;
const STAGE_BATCH = 256;
const STAGE_BATCH_BYTES = 8 << 20;

/** A staged object did not re-hash to its name while nothing of the live tree had changed yet. */
export class TargetDamaged extends Error {
  constructor(readonly object: ObjectReadError) {
    super(object.message);
  }
}

/**
 * Applies a plan so that no file is ever half-written: every new file and symlink is written to a
 * temporary name in its folder (on worker threads for big plans), each object re-hashed as it is
 * read; removals follow (or come first, when a file stands where a folder is needed:
 * `pre.removalsFirst`); one barrier makes the new data durable; each file is renamed over its
 * target (atomic: a reader sees the old file or the new one); then modes are fixed, emptied
 * folders removed, and a last barrier makes the renames durable. Re-running after a crash
 * computes a new plan from what is there and finishes the job.
 *
 * When staging comes first, a damaged object throws TargetDamaged after the temporary files and
 * the folders made for them are removed again: the live tree is as it was, so the caller can
 * refuse the target without having re-read every object beforehand.
 */
export async function applyPlan(root: string, layout: StoreLayout, objects: ObjectIndex, plan: RollbackPlan, pre: Preflight): Promise<ApplyStats> {
  const stats: ApplyStats = { written: 0, linked: 0, removed: 0, modeChanged: 0, bytesWritten: 0, records: [] };
  const dirs = new Set<string>();
  const removeAll = () => {
    for (const e of plan.remove) {
      removePath(join(root, e.path));
      dirs.add(dirname(join(root, e.path)));
      stats.removed++;
      faultPoint('rollback-remove');
    }
  };
  if (pre.removalsFirst) removeAll();
  const made = new Set<string>();
  const created: string[] = [];
  for (const e of [...plan.write, ...plan.link]) mkdirs(root, e.path, made, created);
  const items: StageItem[] = plan.write.map((e) => {
    const loc = objects.get(e.sha256);
    if (!loc) throw new SnapgovError('STORE_CORRUPT', `object ${e.sha256} of ${e.path} is missing`, 'run `snapgov verify --read-data`; roll back to another snapshot');
    return { path: e.path, sha256: e.sha256, size: e.size, mode: e.mode, loc };
  });
  const pool = items.length >= PARALLEL_MIN_FILES ? new WorkerPool({ root, layout, known: null }) : null;
  const writer = pool ? null : new TreeWriter(root, layout);
  const staged: Staged[] = [];
  try {
    if (pool) {
      const early = new EarlyWriteback(root);
      const replies = batches(items, (e) => e.size, STAGE_BATCH_BYTES, STAGE_BATCH).map((b) =>
        pool.request({ type: 'stage', items: b }).then((r) => {
          if (r.type === 'staged') staged.push(...r.staged);
          early.staged(b.reduce((n, e) => n + e.size, 0));
        }),
      );
      replies.push(early.done());
      const settled = await Promise.allSettled(replies);
      const failed = settled.find((x) => x.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    } else {
      staged.push(...writer!.stage(items));
    }
    if (!pre.removalsFirst) removeAll();
    for (const e of plan.link) {
      const dest = join(root, e.path);
      const tmp = tempBeside(dest);
      symlinkSync(e.target, tmp);
      staged.push({ tmp, dest });
    }
    barrier(root, staged.map((x) => x.tmp));
    if (pool) {
      const replies = [];
      for (let i = 0; i < staged.length; i += STAGE_BATCH) {
        replies.push(pool.request({ type: 'rename', pairs: staged.slice(i, i + STAGE_BATCH), replaceDirs: [...pre.replaceDirs] }).then((r) => (r.type === 'renamed' ? stats.records.push(asBuffer(r.records)) : 0)));
      }
      const settled = await Promise.allSettled(replies);
      const failed = settled.find((x) => x.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    } else {
      stats.records.push(writer!.rename(staged, pre.replaceDirs));
    }
    for (const x of staged) dirs.add(dirname(x.dest));
  } catch (e) {
    // Staged files not yet renamed are removed; renamed ones are complete new files.
    for (const x of staged) rmSync(x.tmp, { force: true });
    if (e instanceof ObjectReadError) {
      // Objects are read only while staging: with removals still to come, nothing has changed.
      if (!pre.removalsFirst) {
        for (const d of created.reverse()) rmdirQuietly(d);
        throw new TargetDamaged(e);
      }
      throw new SnapgovError('STORE_CORRUPT', `rollback stopped: ${e.message}`, 'the files written so far are complete; run `snapgov rollback` to a sound snapshot (the safety snapshot undoes it)');
    }
    throw e;
  } finally {
    writer?.close();
    await pool?.close(true).catch(() => undefined);
  }
  stats.written = plan.write.length;
  stats.linked = plan.link.length;
  stats.bytesWritten = plan.bytes;
  for (const e of plan.chmod) {
    const abs = join(root, e.path);
    const st = lstatOrNull(abs);
    if (st?.isFile()) {
      const fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        fchmodSync(fd, e.mode === '0755' ? st.mode | 0o111 : st.mode & ~0o111);
      } finally {
        closeSync(fd);
      }
      stats.modeChanged++;
    }
  }
  removeEmptyDirs(root, plan);
  // The renames and removals made durable: one barrier rather than an fsync per folder.
  barrier(root, [...dirs].filter((d) => lstatOrNull(d)?.isDirectory()));
  return stats;
}

function rmdirQuietly(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty (someone else's file), or already gone: left as it is
  }
}

/** Folders left empty by removals go too (empty folders are not part of a snapshot, as in git). */
function removeEmptyDirs(root: string, plan: RollbackPlan): void {
  const candidates = new Set<string>();
  for (const e of plan.remove) for (let k = e.path.lastIndexOf('/'); k > 0; k = e.path.lastIndexOf('/', k - 1)) candidates.add(e.path.slice(0, k));
  for (const dir of [...candidates].sort((a, b) => b.length - a.length)) rmdirQuietly(join(root, dir));
}

/** Removes temporary files an interrupted rollback left beside the paths it was writing. */
export function removeLeftoverTemps(root: string, paths: readonly string[]): void {
  for (const d of new Set(paths.map((p) => dirname(join(root, p))))) removeMatching(d, (n) => n.startsWith(TEMP_MARK));
}
