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

export interface DiffStat {
  files: { path: string; change: 'added' | 'removed' | 'modified'; before: number | null; after: number | null }[];
  bytesBefore: number;
  bytesAfter: number;
}

/** Each changed path's size before and after (null where it does not exist or is a symlink). */
export function diffStat(d: TreeDiff, from: readonly Entry[], to: readonly Entry[]): DiffStat {
  const size = (entries: readonly Entry[]) => new Map(entries.map((e) => [e.path, e.type === 'file' ? e.size : null]));
  const [a, b] = [size(from), size(to)];
  const files = [...d.added.map((p) => ({ path: p, change: 'added' as const })), ...d.removed.map((p) => ({ path: p, change: 'removed' as const })), ...d.modified.map((p) => ({ path: p, change: 'modified' as const }))]
    .map((f) => ({ ...f, before: a.get(f.path) ?? null, after: b.get(f.path) ?? null }))
    .sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
  return { files, bytesBefore: files.reduce((n, f) => n + (f.before ?? 0), 0), bytesAfter: files.reduce((n, f) => n + (f.after ?? 0), 0) };
}
