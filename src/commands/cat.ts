import { SnapgovError } from '../errors.js';
import { outcome, type GlobalOptions, type Outcome } from '../output.js';
import { shortId } from '../core/ref.js';
import { ObjectIndex, ObjectReadError, ObjectReader } from '../store/objects.js';
import type { StoreLayout } from '../store/layout.js';
import { loadManifest } from '../store/snapshots.js';
import { openStore, resolveSnapshot, withLock } from '../store/open.js';

export interface CatResult {
  id: string;
  path: string;
  type: 'file' | 'symlink' | 'folder';
  /** Files: size, hash and mode; symlinks: the target; folders: the names directly inside (folders end in /). */
  size?: number;
  sha256?: string;
  mode?: string;
  target?: string;
  entries?: string[];
}

/** REF:PATH, where REF may itself hold a colon (`sha256:…`, `tag:NAME`). */
export function splitRefPath(arg: string): { ref: string; path: string } {
  const skip = arg.startsWith('sha256:') ? 7 : arg.startsWith('tag:') ? 4 : 0;
  const at = arg.indexOf(':', skip);
  if (at <= 0) throw new SnapgovError('USAGE', `${JSON.stringify(arg)} is not REF:PATH`, 'for example snapgov cat latest:artifacts/index.json');
  const path = arg.slice(at + 1).replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  return { ref: arg.slice(0, at), path };
}

/**
 * Prints a file of a snapshot as stored, without touching the live tree: a file's bytes (checked
 * against its hash before they are handed on), a symlink's target, a folder's names. With --json,
 * the entry's description instead of its content.
 */
export async function cat(arg: string, _o: object, g: GlobalOptions): Promise<Outcome<CatResult>> {
  const { ref, path } = splitRefPath(arg);
  const { layout } = await openStore(g);
  return withLock(g, layout, 'shared', 'cat', async () => {
    const { id } = await resolveSnapshot(layout, ref);
    const entries = loadManifest(layout, id).entries;
    const entry = entries.find((e) => e.path === path);
    if (!entry) {
      const prefix = path === '' ? '' : `${path}/`;
      const names = [...new Set(entries.filter((e) => e.path.startsWith(prefix)).map((e) => { const rest = e.path.slice(prefix.length); const slash = rest.indexOf('/'); return slash === -1 ? rest : rest.slice(0, slash + 1); }))];
      if (names.length === 0) throw new SnapgovError('USAGE', `snapshot ${shortId(id)} holds no ${path}`, `list what it holds: snapgov cat ${ref}:${path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : ''}`);
      return outcome<CatResult>({ id, path, type: 'folder', entries: names }, renderCat);
    }
    if (entry.type === 'symlink') return outcome<CatResult>({ id, path, type: 'symlink', target: entry.target }, renderCat);
    if (!g.json) writeObject(layout, entry.sha256, id, path);
    return outcome<CatResult>({ id, path, type: 'file', size: entry.size, sha256: entry.sha256, mode: entry.mode }, renderCat);
  });
}

/** A file's bytes were written already, as they were read; a symlink's target and a folder's names are the text. */
function renderCat(r: CatResult): string {
  return r.type === 'folder' ? r.entries!.join('\n') : r.type === 'symlink' ? r.target! : '';
}

/** The bytes to stdout; a large (loose) object is read and checked once before any byte is written. */
function writeObject(layout: StoreLayout, hash: string, id: string, path: string): void {
  const loc = ObjectIndex.load(layout).get(hash);
  const reader = new ObjectReader(layout);
  try {
    if (!loc) throw new ObjectReadError(`object ${hash} is missing`, hash);
    if (loc.pack === null) reader.read(hash, loc, () => undefined);
    // Copied: the reader reuses its buffer, and a write to a pipe may still hold the chunk.
    reader.read(hash, loc, (chunk) => process.stdout.write(Buffer.from(chunk)));
  } catch (e) {
    if (!(e instanceof ObjectReadError)) throw e;
    throw new SnapgovError('STORE_CORRUPT', `${path} of ${shortId(id)} cannot be read: ${e.message}`, 'run `snapgov verify --read-data`; re-import the snapshot from an export if you have one');
  } finally {
    reader.close();
  }
}
