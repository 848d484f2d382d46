import type { ChalkInstance } from 'chalk';
import { formatBytes, outcome, type GlobalOptions, type Outcome } from '../output.js';
import { collectGarbage, type GcSummary } from '../store/gc.js';
import { listSnapshotIds } from '../store/snapshots.js';
import { openStore, withLock } from '../store/open.js';

export interface GcResult extends GcSummary {
  dryRun: boolean;
  snapshots: number;
}

export async function gc(opts: { dryRun?: boolean }, g: GlobalOptions): Promise<Outcome<GcResult>> {
  const { layout } = await openStore(g);
  const dryRun = !!opts.dryRun;
  return withLock(g, layout, dryRun ? 'shared' : 'exclusive', 'gc', async (lock) => {
    // Every snapshot with metadata is a root, readable or not: gc never judges which to keep.
    const roots = listSnapshotIds(layout);
    const summary = await collectGarbage(layout, roots, lock, { dryRun });
    return outcome({ dryRun, snapshots: roots.length, ...summary }, renderGc);
  });
}

function renderGc(r: GcResult, s: ChalkInstance): string {
  const verb = r.dryRun ? 'would delete' : 'deleted';
  const head = r.objectsDeleted === 0 && r.orphanManifests === 0 && r.bytesFreed === 0 ? s.green('nothing to collect') : `${r.dryRun ? s.yellow('dry run: ') : ''}${verb} ${r.objectsDeleted} unreferenced object(s), ${formatBytes(r.bytesFreed)}`;
  const lines = [head, `  snapshots kept:     ${r.snapshots}`, `  packs deleted:      ${r.packsDeleted}`, `  packs rewritten:    ${r.packsRewritten}`, `  orphan manifests:   ${r.orphanManifests}`];
  return lines.join('\n');
}
