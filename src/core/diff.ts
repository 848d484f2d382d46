import type { Entry } from './manifest.js';
import { comparePaths } from './paths.js';

export type ChangeKind = 'content' | 'mode' | 'type' | 'target';

export interface TreeDiff {
  added: string[];
  removed: string[];
  modified: string[];
  /** Why each modified path differs, in the same order as `modified`. */
  changes: { path: string; kind: ChangeKind }[];
}

export function changeKind(from: Entry, to: Entry): ChangeKind | null {
  if (from.type !== to.type) return 'type';
  if (from.type === 'symlink') return from.target === (to as typeof from).target ? null : 'target';
  const t = to as typeof from;
  if (from.sha256 !== t.sha256 || from.size !== t.size) return 'content';
  if (from.mode !== t.mode) return 'mode';
  return null;
}

/**
 * Walks two entry lists sorted by path (manifest order) side by side: `onPair` gets the entry of
 * each path in `from` (or undefined) and in `to` (or undefined).
 */
export function walkPairs(from: readonly Entry[], to: readonly Entry[], onPair: (a: Entry | undefined, b: Entry | undefined) => void): void {
  let i = 0;
  let j = 0;
  while (i < from.length || j < to.length) {
    const a = from[i];
    const b = to[j];
    const c = a === undefined ? 1 : b === undefined ? -1 : comparePaths(a.path, b.path);
    if (c < 0) i++;
    if (c > 0) j++;
    if (c === 0) {
      i++;
      j++;
    }
    onPair(c <= 0 ? a : undefined, c >= 0 ? b : undefined);
  }
}

/** What changes from `from` to `to`; both lists sorted by path (manifest order). */
export function diffEntries(from: readonly Entry[], to: readonly Entry[]): TreeDiff {
  const out: TreeDiff = { added: [], removed: [], modified: [], changes: [] };
  walkPairs(from, to, (a, b) => {
    if (!b) out.removed.push(a!.path);
    else if (!a) out.added.push(b.path);
    else {
      const kind = changeKind(a, b);
      if (kind) {
        out.modified.push(a.path);
        out.changes.push({ path: a.path, kind });
      }
    }
  });
  return out;
}

export function isEmptyDiff(d: TreeDiff): boolean {
  return d.added.length === 0 && d.removed.length === 0 && d.modified.length === 0;
}
