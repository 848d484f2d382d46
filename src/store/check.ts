import { readFileSync } from 'node:fs';
import { ManifestError, ManifestMemo, parseManifest, sha256Hex, type Entry } from '../core/manifest.js';
import type { Problem } from '../core/index-check.js';
import { validate } from '../schema.js';
import { manifestPath, metadataPath, type StoreLayout } from './layout.js';
import type { ObjectIndex } from './objects.js';

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
