import { readFileSync } from 'node:fs';
import { ManifestError, ManifestMemo, parseManifest, sha256Hex, type Entry } from '../core/manifest.js';
import type { Problem } from '../core/index-check.js';
import { validate } from '../schema.js';
import { checkObjects } from '../scan/pool.js';
import { manifestPath, metadataPath, type StoreLayout } from './layout.js';
import type { ObjectIndex } from './objects.js';
import { taskWeight, type ObjectFailure, type ObjectTask } from './object-check.js';

export interface SnapshotCheck {
  id: string;
  ok: boolean;
  problems: Problem[];
  /** The parsed entries when the manifest is sound (for further checks). */
  entries: Entry[] | null;
  /** How many signatures the metadata records (read here, so verify need not read it again). */
  signatures: number;
}

/** State shared across the snapshots of one verify run, so entries common to many snapshots are checked once. */
export class StructureMemo {
  readonly manifest = new ManifestMemo();
  /** Entries whose object was found with the right size. */
  readonly present = new Set<Entry>();
}

/**
 * Structural check of one snapshot: the manifest's bytes hash to the ID and are canonical, the
 * metadata is valid and names the same ID, and (unless `sizes` is false, for a caller that checks
 * the objects it needs itself) every object exists with the right size.
 */
export async function checkStructure(l: StoreLayout, id: string, objects: ObjectIndex, memo = new StructureMemo(), { sizes = true } = {}): Promise<SnapshotCheck> {
  const problems: Problem[] = [];
  const mpath = manifestPath(l, id);
  let entries: Entry[] | null = null;
  let bytes: Buffer | null = null;
  try {
    bytes = readFileSync(mpath);
  } catch {
    problems.push({ code: 'MANIFEST_MISSING', path: mpath, message: 'the manifest file is missing' });
  }
  if (bytes) {
    const got = `sha256:${sha256Hex(bytes)}`;
    if (got !== id) {
      problems.push({ code: 'MANIFEST_DIGEST_MISMATCH', path: mpath, message: `the manifest bytes hash to ${got}` });
    } else {
      try {
        entries = parseManifest(bytes, memo.manifest).entries;
      } catch (e) {
        problems.push({ code: 'MANIFEST_INVALID', path: (e as ManifestError).path ?? mpath, message: (e as ManifestError).message });
      }
    }
  }
  const mdPath = metadataPath(l, id);
  let signatures = 0;
  try {
    const doc: unknown = JSON.parse(readFileSync(mdPath, 'utf8'));
    const v = await validate('metadata', doc);
    if (!v.ok) problems.push({ code: 'METADATA_INVALID', path: mdPath, message: v.errors.join('; ') });
    else if ((doc as { id: string }).id !== id) problems.push({ code: 'METADATA_INVALID', path: mdPath, message: `the metadata describes ${(doc as { id: string }).id}` });
    else signatures = (doc as { signatures: unknown[] }).signatures.length;
  } catch (e) {
    problems.push({ code: 'METADATA_INVALID', path: mdPath, message: `cannot be read: ${(e as Error).message}` });
  }
  for (const e of sizes ? (entries ?? []) : []) {
    if (e.type !== 'file' || memo.present.has(e)) continue;
    const size = objects.sizeOf(e.sha256);
    if (size === null) problems.push({ code: 'OBJECT_MISSING', path: e.path, message: `object ${e.sha256} is missing` });
    else if (size !== e.size) problems.push({ code: 'OBJECT_SIZE_MISMATCH', path: e.path, message: `object ${e.sha256} has ${size} bytes, the manifest says ${e.size}` });
    else memo.present.add(e);
  }
  return { id, ok: problems.length === 0, problems, entries, signatures };
}

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
