import type { ChalkInstance } from 'chalk';
import { shortId } from '../core/ref.js';
import { SnapgovError } from '../errors.js';
import { formatBytes, outcome, type GlobalOptions, type Outcome } from '../output.js';
import { appendAudit } from '../store/audit-log.js';
import { planGc, planIsEmpty, reachable, removeStaleTemps, runGc } from '../store/gc.js';
import type { StoreLayout } from '../store/layout.js';
import type { StoreLock } from '../store/lock.js';
import { ObjectIndex } from '../store/objects.js';
import { listSnapshotIds } from '../store/snapshots.js';
import { openStore, withLock } from '../store/open.js';

export interface GcSummary {
  objectsDeleted: number;
  bytesFreed: number;
  packsDeleted: number;
  packsRewritten: number;
  orphanManifests: number;
}

export interface GcResult extends GcSummary {
  dryRun: boolean;
  snapshots: number;
}

/**
 * Reachability, the refusal to collect when a root already lost data, and the collection itself,
 * all under the caller's lock. `beforeCollect` runs after the checks and before anything is
 * deleted (prune removes its snapshots there).
 */
export async function collectGarbage(layout: StoreLayout, roots: readonly string[], lock: StoreLock, opts: { dryRun: boolean; beforeCollect?: () => Promise<void> }): Promise<GcSummary> {
  const objects = ObjectIndex.load(layout, { fresh: true });
  const reach = await reachable(layout, objects, roots);
  if (reach.damaged.length > 0) {
    const list = reach.damaged.slice(0, 10).map((d) => `${shortId(d.id)}: ${d.problems.slice(0, 3).map((p) => `${p.code} ${p.path}`).join(', ')}`);
    throw new SnapgovError('STORE_CORRUPT', `${reach.damaged.length} snapshot(s) to keep already miss data, so nothing was deleted: ${list.join('; ')}`, 'run `snapgov verify --all` for the full list; restore the snapshots from an export (or remove them explicitly) before pruning', { damaged: reach.damaged });
  }
  const plan = planGc(layout, objects, reach.marks);
  const summary: GcSummary = { objectsDeleted: plan.objectsDeleted, bytesFreed: plan.bytesFreed, packsDeleted: plan.dropPacks.length, packsRewritten: plan.repack.length, orphanManifests: plan.orphanManifests.length };
  if (opts.dryRun) return summary;
  await opts.beforeCollect?.();
  removeStaleTemps(layout, lock);
  if (planIsEmpty(plan)) return summary;
  runGc(layout, plan, lock);
  await appendAudit(layout, { action: 'gc', outcome: 'success', details: { ...summary } });
  return summary;
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
