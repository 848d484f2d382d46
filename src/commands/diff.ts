import type { ChalkInstance } from 'chalk';
import { diffEntries, type TreeDiff } from '../core/diff.js';
import type { Entry } from '../core/manifest.js';
import { shortId } from '../core/ref.js';
import { outcome, type GlobalOptions, type Outcome } from '../output.js';
import { loadManifest } from '../store/snapshots.js';
import { scanTree, type Skipped } from '../scan/scan.js';
import { openStore, resolveSnapshot, type Store } from './common.js';

export interface DiffResult extends TreeDiff {
  from: string;
  to: string;
  skipped?: Skipped[];
}

/** The live tree as entries, read without writing anything to the store. */
export async function liveEntries(store: Store, opts: { written?: Buffer[]; noCache?: boolean } = {}): Promise<{ entries: Entry[]; skipped: Skipped[] }> {
  const scan = await scanTree(store.ws, { objects: null, layout: store.layout, ...opts });
  return { entries: scan.entries, skipped: scan.skipped };
}

export async function diff(a: string, b: string | undefined, _opts: object, g: GlobalOptions): Promise<Outcome<DiffResult>> {
  const store = await openStore(g);
  const from = await resolveSnapshot(store.layout, a);
  const fromEntries = loadManifest(store.layout, from.id).entries;
  let result: DiffResult;
  if (b === undefined) {
    const live = await liveEntries(store);
    result = { from: from.id, to: 'worktree', ...diffEntries(fromEntries, live.entries), skipped: live.skipped };
  } else {
    const to = await resolveSnapshot(store.layout, b);
    result = { from: from.id, to: to.id, ...diffEntries(fromEntries, loadManifest(store.layout, to.id).entries) };
  }
  const warnings = (result.skipped ?? []).map((s) => `could not read ${s.path}: ${s.reason}`);
  return outcome(result, renderDiff, 0, warnings);
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
  const lines = renderChanges(r, s);
  if (lines.length === 0) return `no differences between ${shortId(r.from)} and ${to}`;
  return [`${shortId(r.from)} -> ${to}: ${r.added.length} added, ${r.removed.length} removed, ${r.modified.length} modified`, ...lines].join('\n');
}
