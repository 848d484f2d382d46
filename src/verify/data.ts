import { readFileSync } from 'node:fs';
import { parseManifest, type Entry } from '../core/manifest.js';
import { checkObjects } from '../pool/pool.js';
import type { SnapshotCheck } from '../store/check.js';
import { manifestPath, type StoreLayout } from '../store/layout.js';
import { taskWeight, type ObjectFailure, type ObjectTask } from '../store/object-check.js';
import type { ObjectIndex } from '../store/objects.js';

// Reading the store's data back (verify --read-data, a rollback's re-read of what it will write):
// on the worker pool, so it sits above it; the structural check stays in store/check.ts.

/**
 * Which packs and loose objects a set of snapshots needs re-read (verify --read-data). A pack of
 * which only a few objects are needed is not read whole: those objects are read one by one.
 */
export class DataPlan {
  readonly packs = new Set<string>();
  readonly loose = new Set<string>();
  /** Needed objects per pack, with their places, until the pack is worth reading whole. */
  private readonly packed = new Map<string, { hash: string; offset: number; length: number }[]>();

  constructor(private readonly objects: ObjectIndex) {}

  /** Every pack and loose object in the store (verify --all can start reading before any manifest is parsed). */
  static everything(objects: ObjectIndex): DataPlan {
    const plan = new DataPlan(objects);
    for (const p of objects.packs) plan.packs.add(p);
    for (const h of objects.looseHashes()) plan.loose.add(h);
    return plan;
  }

  /** Entries already planned; shared Entry objects (see StructureMemo) are looked up once. */
  private seen: Set<Entry> | null = null;

  add(entries: readonly Entry[]): void {
    const first = this.seen === null;
    this.seen ??= new Set();
    for (const e of entries) {
      if (e.type !== 'file' || (!first && this.seen.has(e))) continue;
      this.seen.add(e);
      const i = this.objects.indexOf(e.sha256);
      if (i === -1) continue; // missing objects are reported by the structural check
      const p = this.objects.packAt(i);
      if (p === null) this.loose.add(e.sha256);
      else {
        this.packs.add(p);
        const loc = this.objects.get(e.sha256)!;
        let list = this.packed.get(p);
        if (!list) this.packed.set(p, (list = []));
        list.push({ hash: e.sha256, offset: loc.offset, length: loc.size });
      }
    }
  }

  tasks(): ObjectTask[] {
    const out: ObjectTask[] = [];
    for (const p of this.packs) {
      const list = this.packed.get(p) ?? [];
      const needed = list.reduce((s, o) => s + o.length, 0);
      // Reading a whole pack sequentially beats many small reads once a quarter of it is needed.
      if (list.length === 0 || needed * 4 >= this.objects.packSize(p)) out.push({ kind: 'pack', pack: p });
      else for (const o of list) out.push({ kind: 'packed', pack: p, ...o });
    }
    for (const hash of this.loose) out.push({ kind: 'loose', hash });
    return out;
  }
}

export interface DataFailures {
  objects: Map<string, ObjectFailure>;
  packs: Map<string, ObjectFailure>;
}

/** Re-hashes what the plan lists, each pack read once, on worker threads. */
export async function readData(l: StoreLayout, objects: ObjectIndex, plan: DataPlan): Promise<DataFailures> {
  const out: DataFailures = { objects: new Map(), packs: new Map() };
  await checkObjects(plan.tasks(), (t) => taskWeight(t, (p) => objects.packSize(p)), l, (f) => (plan.packs.has(f.hash) ? out.packs.set(f.hash, f) : out.objects.set(f.hash, f)));
  return out;
}

/**
 * Adds a problem to each snapshot for each of its paths whose object is damaged. Manifests are
 * read again only when something failed, so memory holds at most two manifests however many
 * snapshots are checked.
 */
export function attachDataFailures(l: StoreLayout, checks: SnapshotCheck[], objects: ObjectIndex, failures: DataFailures): void {
  if (failures.objects.size === 0 && failures.packs.size === 0) return;
  for (const c of checks) {
    if (c.problems.some((p) => p.code.startsWith('MANIFEST_'))) continue;
    const entries = c.entries ?? parseManifest(readFileSync(manifestPath(l, c.id))).entries;
    const hitPacks = new Set<string>();
    for (const e of entries) {
      if (e.type !== 'file') continue;
      const f = failures.objects.get(e.sha256);
      if (f) c.problems.push({ code: f.code, path: e.path, message: `${f.message} (object ${f.hash})` });
      const i = failures.packs.size ? objects.indexOf(e.sha256) : -1;
      const p = i === -1 ? null : objects.packAt(i);
      if (p && failures.packs.has(p)) hitPacks.add(p);
    }
    for (const p of hitPacks) c.problems.push({ code: failures.packs.get(p)!.code, path: '', message: failures.packs.get(p)!.message });
    c.ok = c.problems.length === 0;
  }
}
