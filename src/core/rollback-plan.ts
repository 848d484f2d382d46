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
