import { closeSync, openSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Problem } from '../core/index-check.js';
import { shortId } from '../core/ref.js';
import { SnapgovError } from '../errors.js';
import { faultPoint } from '../util/fault.js';
import { fsyncDir, removeMatching } from '../util/fsx.js';
import { appendAudit } from './audit-log.js';
import { checkStructure, StructureMemo } from './check.js';
import { looseObjectPath, manifestPath, type StoreLayout } from './layout.js';
import type { StoreLock } from './lock.js';
import { commitStaged, ObjectIndex, ObjectReader, ObjectReadError, ObjectWriter, readPackIndex, type DamagedPack } from './objects.js';
import { PACK_RECORD, readU64, type PackEntry } from './pack.js';
import { removeSignatureFiles } from './signature-files.js';
import { listSnapshotIds } from './snapshots.js';

/** Which stored objects the given snapshots reference (one mark per object of the index). */
export interface Reachability {
  marks: Uint8Array;
  /** Snapshots that cannot be fully read back: missing or wrong-sized objects, damaged manifests. */
  damaged: { id: string; problems: Problem[] }[];
}

/**
 * Marks every object the roots reference. Each root is checked structurally on the way (manifest
 * hashes to its ID, every object present with its size): a store that already lost data must not
 * be garbage-collected (restic's rule), so the caller refuses when `damaged` is not empty.
 */
export async function reachable(layout: StoreLayout, objects: ObjectIndex, roots: readonly string[]): Promise<Reachability> {
  const marks = new Uint8Array(objects.count);
  const damaged: Reachability['damaged'] = [];
  const memo = new StructureMemo();
  for (const id of roots) {
    const c = await checkStructure(layout, id, objects, memo);
    // Unreadable metadata does not lose data; the snapshot stays a root and its objects stay.
    const problems = c.problems.filter((p) => p.code !== 'METADATA_INVALID');
    if (problems.length > 0) damaged.push({ id, problems });
    for (const e of c.entries ?? []) {
      if (e.type !== 'file') continue;
      const i = objects.indexOf(e.sha256);
      if (i !== -1) marks[i] = 1;
    }
  }
  return { marks, damaged };
}

export interface GcPlan {
  /** Loose objects no snapshot references. */
  loose: { hash: string; size: number }[];
  /** Packs holding nothing that is referenced (or only copies of objects stored elsewhere). */
  dropPacks: string[];
  /** Packs holding both: the referenced objects are copied into new packs, then the old pack goes. */
  repack: { pack: string; keep: PackEntry[] }[];
  /** Manifests without metadata: left by an interrupted create or prune. */
  orphanManifests: string[];
  /** Signature folders of snapshots that no longer exist (an interrupted prune). */
  orphanSignatures: string[];
  damagedPacks: DamagedPack[];
  objectsDeleted: number;
  bytesFreed: number;
}

/**
 * Decides what garbage collection removes, given the marks of `reachable`. An object stored twice
 * (a pack rewritten by an interrupted gc, or a loose and a packed copy) is kept once: only the
 * copy the index resolves to counts, the others are garbage.
 */
export function planGc(layout: StoreLayout, objects: ObjectIndex, marks: Uint8Array): GcPlan {
  const known = new Set(listSnapshotIds(layout));
  const plan: GcPlan = { loose: [], dropPacks: [], repack: [], orphanManifests: orphans(layout.manifests, /^([0-9a-f]{64})\.json$/, known), orphanSignatures: orphans(join(layout.metadata, 'signatures'), /^([0-9a-f]{64})$/, known), damagedPacks: objects.damagedPacks, objectsDeleted: 0, bytesFreed: 0 };
  for (const hash of objects.looseHashes()) {
    if (marks[objects.indexOf(hash)]) continue;
    const size = objects.sizeOf(hash) ?? 0;
    plan.loose.push({ hash, size });
    plan.objectsDeleted++;
    plan.bytesFreed += size;
  }
  for (const pack of objects.packs) {
    const records = packRecords(layout, pack);
    const keep: PackEntry[] = [];
    let dead = 0;
    for (const r of records) {
      const i = objects.indexOf(r.hash);
      const chosen = objects.get(r.hash);
      if (marks[i] && chosen?.pack === pack && chosen.offset === r.offset) keep.push(r);
      else {
        dead++;
        // A duplicate copy frees space but deletes no object.
        if (!marks[i]) plan.objectsDeleted++;
        plan.bytesFreed += r.length;
      }
    }
    if (dead === 0) continue;
    if (keep.length === 0) plan.dropPacks.push(pack);
    else plan.repack.push({ pack, keep });
  }
  return plan;
}

export function planIsEmpty(p: GcPlan): boolean {
  return p.loose.length === 0 && p.dropPacks.length === 0 && p.repack.length === 0 && p.orphanManifests.length === 0 && p.orphanSignatures.length === 0;
}

function packRecords(layout: StoreLayout, pack: string): PackEntry[] {
  const fd = openSync(join(layout.packs, `${pack}.pack`), 'r');
  try {
    const r = readPackIndex(fd, pack);
    if (typeof r === 'string') return [];
    const out: PackEntry[] = [];
    for (let i = 0; i < r.count; i++) {
      const at = i * PACK_RECORD;
      out.push({ hash: r.index.toString('hex', at, at + 32), offset: readU64(r.index, at + 32), length: readU64(r.index, at + 40) });
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** IDs named in `dir` (by `pattern`) that are not snapshots. */
function orphans(dir: string, pattern: RegExp, known: ReadonlySet<string>): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const n of names) {
    const m = pattern.exec(n);
    if (m && !known.has(`sha256:${m[1]}`)) out.push(`sha256:${m[1]}`);
  }
  return out;
}

/**
 * Temp files in the store are only written under the exclusive lock the caller holds: any left are
 * from dead runs (a killed create or import), removed whether or not there is garbage to collect.
 */
export function removeStaleTemps(layout: StoreLayout, lock: StoreLock): void {
  lock.assertHeld();
  removeMatching(layout.tmp, () => true);
  for (const dir of [layout.manifests, layout.metadata]) removeMatching(dir, (n) => n.startsWith('.') && n.includes('.tmp-'));
}

/**
 * Carries out a plan under the exclusive lock. Order: referenced objects of partly dead packs are
 * copied into new packs and made durable first, then old packs, loose objects and orphan
 * manifests are deleted. A crash anywhere leaves every object some snapshot needs in place;
 * the next gc deletes what is left over.
 */
export function runGc(layout: StoreLayout, plan: GcPlan, lock: StoreLock): void {
  lock.assertHeld();
  // Packs are named by their content: a rewrite can reproduce, byte for byte, a pack this plan
  // drops (one left by an interrupted gc). What was just written is never deleted.
  const written = new Set<string>();
  if (plan.repack.length > 0) {
    const writer = new ObjectWriter(layout.tmp, () => false);
    const reader = new ObjectReader(layout);
    try {
      const key = Buffer.alloc(32);
      for (const { pack, keep } of plan.repack) {
        for (const e of keep) {
          reader.read(e.hash, { pack, offset: e.offset, size: e.length }, (data) => {
            key.write(e.hash, 0, 32, 'hex');
            writer.addSmall(key, e.hash, data);
          });
        }
      }
      lock.assertHeld();
      const staged = writer.finish();
      commitStaged(layout, staged);
      for (const p of staged.packs) written.add(p.hash);
    } catch (err) {
      writer.discard();
      if (err instanceof ObjectReadError) {
        throw new SnapgovError('STORE_CORRUPT', `garbage collection stopped before deleting anything: ${err.message}`, 'run `snapgov verify --all --read-data` to see which snapshots are damaged; restore them from an export before pruning', { object: err.hash });
      }
      throw err;
    } finally {
      reader.close();
    }
  }
  lock.assertHeld();
  for (const pack of [...plan.repack.map((r) => r.pack), ...plan.dropPacks]) {
    if (written.has(pack)) continue;
    faultPoint('gc-delete');
    rmSync(join(layout.packs, `${pack}.pack`), { force: true });
  }
  const dirs = new Set<string>([layout.packs]);
  for (const o of plan.loose) {
    faultPoint('gc-delete');
    rmSync(looseObjectPath(layout, o.hash), { force: true });
    dirs.add(join(layout.objects, o.hash.slice(0, 2)));
  }
  for (const id of plan.orphanManifests) rmSync(manifestPath(layout, id), { force: true });
  for (const id of plan.orphanSignatures) removeSignatureFiles(layout, id);
  if (plan.orphanManifests.length > 0) dirs.add(layout.manifests);
  for (const d of dirs) {
    try {
      fsyncDir(d);
    } catch {
      // A fan-out folder may be gone already; nothing to make durable there.
    }
  }
}

export interface GcSummary {
  objectsDeleted: number;
  bytesFreed: number;
  packsDeleted: number;
  packsRewritten: number;
  orphanManifests: number;
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
