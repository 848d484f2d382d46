import type { Entry, FileEntry, SymlinkEntry } from './manifest.js';
import { walkPairs } from './diff.js';

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
