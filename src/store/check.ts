import { readFileSync } from 'node:fs';
import { ManifestError, parseManifest, sha256Hex, type Entry, type FileEntry } from '../core/manifest.js';
import type { Problem } from '../core/index-check.js';
import { validate } from '../schema.js';
import { checkObjects } from '../scan/pool.js';
import { manifestPath, metadataPath, type StoreLayout } from './layout.js';
import type { ObjectIndex } from './objects.js';

export interface SnapshotCheck {
  id: string;
  ok: boolean;
  problems: Problem[];
  /** The parsed entries when the manifest is sound (for further checks). */
  entries: Entry[] | null;
}

/**
 * Structural check of one snapshot: the manifest's bytes hash to the ID and are canonical, the
 * metadata is valid and names the same ID, and every object exists with the right size.
 */
export async function checkStructure(l: StoreLayout, id: string, objects: ObjectIndex): Promise<SnapshotCheck> {
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
        entries = parseManifest(bytes).entries;
      } catch (e) {
        problems.push({ code: 'MANIFEST_INVALID', path: (e as ManifestError).path ?? mpath, message: (e as ManifestError).message });
      }
    }
  }
  const mdPath = metadataPath(l, id);
  try {
    const doc: unknown = JSON.parse(readFileSync(mdPath, 'utf8'));
    const v = await validate('metadata', doc);
    if (!v.ok) problems.push({ code: 'METADATA_INVALID', path: mdPath, message: v.errors.join('; ') });
    else if ((doc as { id: string }).id !== id) problems.push({ code: 'METADATA_INVALID', path: mdPath, message: `the metadata describes ${(doc as { id: string }).id}` });
  } catch (e) {
    problems.push({ code: 'METADATA_INVALID', path: mdPath, message: `cannot be read: ${(e as Error).message}` });
  }
  for (const e of entries ?? []) {
    if (e.type !== 'file') continue;
    const size = objects.sizeOf(e.sha256);
    if (size === null) problems.push({ code: 'OBJECT_MISSING', path: e.path, message: `object ${e.sha256} is missing` });
    else if (size !== e.size) problems.push({ code: 'OBJECT_SIZE_MISMATCH', path: e.path, message: `object ${e.sha256} has ${size} bytes, the manifest says ${e.size}` });
  }
  return { id, ok: problems.length === 0, problems, entries };
}

/**
 * Re-hashes every object the given snapshots reference (each object once, on worker threads) and
 * adds a problem to each snapshot for each of its paths whose object is damaged.
 */
export async function checkData(l: StoreLayout, checks: SnapshotCheck[], objects: ObjectIndex): Promise<void> {
  const users = new Map<string, { check: SnapshotCheck; entry: FileEntry }[]>();
  for (const c of checks) {
    for (const e of c.entries ?? []) {
      if (e.type !== 'file' || !objects.has(e.sha256)) continue; // missing ones are already reported
      let u = users.get(e.sha256);
      if (!u) users.set(e.sha256, (u = []));
      u.push({ check: c, entry: e });
    }
  }
  const tasks = [...users.keys()].map((hash) => ({ hash, loc: objects.get(hash)! }));
  // Pack order then offset: sequential reads.
  tasks.sort((a, b) => (a.loc.pack ?? '').localeCompare(b.loc.pack ?? '') || a.loc.offset - b.loc.offset);
  await checkObjects(tasks, l, (r) => {
    if (r.ok) return;
    for (const u of users.get(r.hash) ?? []) {
      u.check.problems.push({ code: r.code, path: u.entry.path, message: `${r.message} (object ${r.hash})` });
      u.check.ok = false;
    }
  });
}
