import type { ChalkInstance } from 'chalk';
import { diffEntries, diffStat, type DiffStat, type TreeDiff } from '../core/diff.js';
import type { Entry } from '../core/manifest.js';
import { shortId } from '../core/ref.js';
import { formatBytes, outcome, type GlobalOptions, type Outcome } from '../output.js';
import { loadManifest } from '../store/snapshots.js';
import type { Skipped } from '../scan/scan.js';
import { liveEntries } from '../scan/live.js';
import { openStore, resolveSnapshot } from '../store/open.js';

export interface DiffResult extends TreeDiff {
  from: string;
  to: string;
  skipped?: Skipped[];
  /** With --stat: each changed path's size before and after (null where it does not exist or is a symlink). */
  stat?: DiffStat;
}

export interface DiffOptions {
  stat?: boolean;
  nameOnly?: boolean;
}

export async function diff(a: string, b: string | undefined, o: DiffOptions, g: GlobalOptions): Promise<Outcome<DiffResult>> {
  const store = await openStore(g);
  const from = await resolveSnapshot(store.layout, a);
  const fromEntries = loadManifest(store.layout, from.id).entries;
  let result: DiffResult;
  let toEntries: Entry[];
  if (b === undefined) {
    const live = await liveEntries(store);
    toEntries = live.entries;
    result = { from: from.id, to: 'worktree', ...diffEntries(fromEntries, toEntries), skipped: live.skipped };
  } else {
    const to = await resolveSnapshot(store.layout, b);
    toEntries = loadManifest(store.layout, to.id).entries;
    result = { from: from.id, to: to.id, ...diffEntries(fromEntries, toEntries) };
  }
  if (o.stat) result.stat = diffStat(result, fromEntries, toEntries);
  const warnings = (result.skipped ?? []).map((s) => `could not read ${s.path}: ${s.reason}`);
  return outcome(result, o.nameOnly ? renderNames : renderDiff, 0, warnings);
}

/** One changed path per line and nothing else, for scripts (`| xargs`). */
function renderNames(r: DiffResult): string {
  return [...r.added, ...r.removed, ...r.modified].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)).join('\n');
}

function renderStat(st: NonNullable<DiffResult['stat']>, s: ChalkInstance): string[] {
  const width = Math.min(60, Math.max(...st.files.map((f) => f.path.length)));
  const size = (n: number | null) => (n === null ? '-' : formatBytes(n));
  const mark = { added: s.green('+'), removed: s.red('-'), modified: s.yellow('M') };
  const lines = st.files.map((f) => ` ${mark[f.change]} ${f.path.padEnd(width)} | ${size(f.before)} -> ${size(f.after)}`);
  lines.push(` ${st.files.length} file(s) changed, ${formatBytes(st.bytesBefore)} -> ${formatBytes(st.bytesAfter)}`);
  return lines;
}

export function renderChanges(d: TreeDiff, s: ChalkInstance): string[] {
  const kinds = new Map(d.changes.map((c) => [c.path, c.kind]));
  const lines = [
    ...d.added.map((p) => s.green(`+ ${p}`)),
    ...d.removed.map((p) => s.red(`- ${p}`)),
    ...d.modified.map((p) => s.yellow(`M ${p}`) + s.dim(` (${kinds.get(p)})`)),
  ];
  return lines;
}

function renderDiff(r: DiffResult, s: ChalkInstance): string {
  const to = r.to === 'worktree' ? 'the live tree' : shortId(r.to);
  const lines = r.stat ? renderStat(r.stat, s) : renderChanges(r, s);
  if (r.added.length + r.removed.length + r.modified.length === 0) return `no differences between ${shortId(r.from)} and ${to}`;
  return [`${shortId(r.from)} -> ${to}: ${r.added.length} added, ${r.removed.length} removed, ${r.modified.length} modified`, ...lines].join('\n');
}
