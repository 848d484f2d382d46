import { diffEntries } from '../core/diff.js';
import type { Problem } from '../core/index-check.js';
import type { Entry } from '../core/manifest.js';
import { summarizeIndex } from '../scan/index-summary.js';
import { liveEntries } from '../scan/live.js';
import type { Store } from '../store/open.js';

/** How the live tree differs from a snapshot's entries, and what is wrong with its artifact index (verify --worktree). */
export async function worktreeProblems(store: Store, entries: readonly Entry[]): Promise<Problem[]> {
  const problems: Problem[] = [];
  const tree = await liveEntries(store);
  const d = diffEntries(entries, tree.entries);
  const kinds = new Map(d.changes.map((x) => [x.path, x.kind]));
  for (const p of d.added) problems.push({ code: 'DRIFT_ADDED', path: p, message: 'in the live tree but not in the snapshot' });
  for (const p of d.removed) problems.push({ code: 'DRIFT_REMOVED', path: p, message: 'in the snapshot but missing from the live tree' });
  for (const p of d.modified) problems.push({ code: 'DRIFT_MODIFIED', path: p, message: `differs from the snapshot (${kinds.get(p)})` });
  for (const s of tree.skipped) problems.push({ code: 'DRIFT_UNREADABLE', path: s.path, message: s.reason });
  const index = await summarizeIndex(store.ws, tree.entries);
  problems.push(...(index?.problems ?? []));
  return problems;
}
