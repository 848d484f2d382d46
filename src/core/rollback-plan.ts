import type { Entry, FileEntry, SymlinkEntry } from './manifest.js';
import { walkPairs } from './diff.js';
import { comparePaths } from './paths.js';

/**
 * What a rollback must do to turn the live tree into the target: the plan is pure data, computed
 * from the two entry lists, so it can be printed (--dry-run), checked and tested without a disk.
 */
export interface RollbackPlan {
  /** Files whose content (or type) differs or that are missing: written from the store. */
  write: FileEntry[];
  /** Symlinks to create or re-point. */
  link: SymlinkEntry[];
  /** Files with the right content but the wrong executable bit. */
  chmod: FileEntry[];
  /** Managed paths the target does not have. */
  remove: Entry[];
  /** Bytes to write. */
  bytes: number;
}

export function planRollback(live: readonly Entry[], target: readonly Entry[]): RollbackPlan {
  const plan: RollbackPlan = { write: [], link: [], chmod: [], remove: [], bytes: 0 };
  walkPairs(live, target, (a, want) => {
    if (!want) plan.remove.push(a!);
    else if (want.type === 'symlink') {
      if (!(a?.type === 'symlink' && a.target === want.target)) plan.link.push(want);
    } else if (a?.type === 'file' && a.sha256 === want.sha256 && a.size === want.size) {
      if (a.mode !== want.mode) plan.chmod.push(want);
    } else {
      plan.write.push(want);
      plan.bytes += want.size;
    }
  });
  return plan;
}

export function planIsEmpty(p: RollbackPlan): boolean {
  return p.write.length === 0 && p.link.length === 0 && p.chmod.length === 0 && p.remove.length === 0;
}

/**
 * The plan and target without the paths the current config does not manage (a snapshot taken under
 * other include/exclude rules): the rollback leaves them alone, and plans, applies and verifies
 * against one file set. Only paths the plan adds can be unmanaged: everything else was found by
 * the walk of the live tree.
 */
export function withoutUnmanaged<T extends Entry>(plan: RollbackPlan, target: readonly T[], managed: (path: string) => boolean): { plan: RollbackPlan; target: readonly T[]; excluded: string[] } {
  const excluded = [...plan.write, ...plan.link].map((e) => e.path).filter((p) => !managed(p));
  if (excluded.length === 0) return { plan, target, excluded };
  const out = new Set(excluded);
  const write = plan.write.filter((e) => !out.has(e.path));
  return { plan: { ...plan, write, link: plan.link.filter((e) => !out.has(e.path)), bytes: write.reduce((n, e) => n + e.size, 0) }, target: target.filter((e) => !out.has(e.path)), excluded: excluded.sort() };
}

/** Whether `path` is one of `paths` or lies below one of them. */
export function selectedBy(paths: readonly string[]): (path: string) => boolean {
  const exact = new Set(paths);
  return (path) => {
    if (exact.has(path)) return true;
    for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) if (exact.has(path.slice(0, i))) return true;
    return false;
  };
}

/**
 * The target of restoring single paths: the live tree, with the selected paths (files, symlinks,
 * folders and what is below them) as the snapshot has them. A live file where the snapshot needs
 * a folder above a restored path gives way. Both lists and the result are in manifest order.
 * `missing`: selected paths the snapshot does not hold.
 */
export function restoreTarget<T extends Entry>(live: readonly T[], snapshot: readonly T[], paths: readonly string[]): { target: T[]; missing: string[] } {
  const selected = selectedBy(paths);
  const taken = snapshot.filter((e) => selected(e.path));
  const folders = new Set<string>();
  for (const e of taken) for (let i = e.path.indexOf('/'); i !== -1; i = e.path.indexOf('/', i + 1)) folders.add(e.path.slice(0, i));
  const kept = live.filter((e) => !selected(e.path) && !folders.has(e.path));
  const target: T[] = [];
  let i = 0;
  let j = 0;
  while (i < kept.length || j < taken.length) {
    if (j >= taken.length || (i < kept.length && comparePaths(kept[i]!.path, taken[j]!.path) < 0)) target.push(kept[i++]!);
    else target.push(taken[j++]!);
  }
  const missing = paths.filter((p) => !taken.some((e) => e.path === p || e.path.startsWith(`${p}/`)));
  return { target, missing };
}
