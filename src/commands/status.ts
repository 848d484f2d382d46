import type { ChalkInstance } from 'chalk';
import { diffEntries, isEmptyDiff, type TreeDiff } from '../core/diff.js';
import { shortId } from '../core/ref.js';
import { outcome, type GlobalOptions, type Outcome } from '../output.js';
import { loadManifest, readLive, type LivePointer } from '../store/snapshots.js';
import type { Skipped } from '../scan/scan.js';
import { liveEntries } from '../scan/live.js';
import { renderChanges } from './diff.js';
import { openStore } from '../store/open.js';
import { snapshotPins } from '../governance/history.js';

export interface StatusResult extends TreeDiff {
  live: LivePointer | null;
  clean: boolean;
  skipped: Skipped[];
  /** Environments whose current pin is the live snapshot. */
  pinnedIn: string[];
}

export async function status(_opts: object, g: GlobalOptions): Promise<Outcome<StatusResult>> {
  const store = await openStore(g);
  const live = await readLive(store.layout);
  const tree = await liveEntries(store);
  const base = live ? loadManifest(store.layout, live.id).entries : [];
  const d = diffEntries(base, tree.entries);
  const pinnedIn = live ? snapshotPins(store.layout, live.id).pinnedIn : [];
  const result: StatusResult = { live, clean: isEmptyDiff(d) && tree.skipped.length === 0, ...d, skipped: tree.skipped, pinnedIn };
  return outcome(result, renderStatus, 0, tree.skipped.map((x) => `could not read ${x.path}: ${x.reason}`));
}

function renderStatus(r: StatusResult, s: ChalkInstance): string {
  const head = r.live ? `live tree is at ${s.bold(shortId(r.live.id))} (${r.live.action} at ${r.live.since})${r.pinnedIn.length ? `, the pin of ${r.pinnedIn.join(', ')}` : ''}` : 'no snapshot yet: every file is new';
  if (r.clean) return `${head}\n${s.green('clean')}: nothing changed since`;
  return [head, `${r.added.length} added, ${r.removed.length} removed, ${r.modified.length} modified since:`, ...renderChanges(r, s).map((l) => `  ${l}`)].join('\n');
}
