import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { readExport } from '../archive/import.js';
import { shortId } from '../core/ref.js';
import { SnapgovError } from '../errors.js';
import { formatBytes, outcome, type GlobalOptions, type Outcome } from '../output.js';
import { adoptSnapshot } from '../store/adopt.js';
import { metadataPath } from '../store/layout.js';
import { discardStaged, ObjectIndex } from '../store/objects.js';
import { openStore, withLock } from '../store/open.js';
import { progress } from '../util/progress.js';

export interface ImportResult {
  id: string;
  imported: boolean;
  objects: number;
  newObjects: number;
  newBytes: number;
  /** With --dry-run: the archive was read and checked, nothing written; `present`: the store already has the snapshot. */
  dryRun?: true;
  present?: boolean;
}

export async function importCmd(file: string, o: { dryRun?: boolean }, g: GlobalOptions): Promise<Outcome<ImportResult>> {
  // `-` is standard input, as `export -o -` writes standard output: `snapgov export REF -o - | ssh host snapgov import -`.
  const fromStdin = file === '-';
  const path = fromStdin ? '(standard input)' : resolve(file);
  if (!fromStdin && !existsSync(path)) throw new SnapgovError('USAGE', `${file}: no such file`, 'pass the path of an archive written by `snapgov export`, or - for standard input');
  const { layout } = await openStore(g);
  // A dry run reads and checks every byte as an import does, then discards what it staged: a shared lock is enough.
  const result = await withLock(g, layout, o.dryRun ? 'shared' : 'exclusive', 'import', async (lock): Promise<ImportResult> => {
    const objects = ObjectIndex.load(layout);
    progress(`reading and checking ${path}…`);
    const a = await readExport(fromStdin ? process.stdin : path, layout, objects);
    const present = existsSync(metadataPath(layout, a.id));
    if (present || o.dryRun) {
      discardStaged(a.staged);
      return { id: a.id, imported: false, objects: a.objectsInArchive, newObjects: present ? 0 : a.staged.newObjects, newBytes: present ? 0 : a.staged.newBytes, ...(o.dryRun ? { dryRun: true as const, present } : {}) };
    }
    await adoptSnapshot(layout, lock, a.manifest, a.metadata, a.staged, { action: 'import', to: a.id, outcome: 'success', details: { file: path, objects: a.objectsInArchive, newObjects: a.staged.newObjects, newBytes: a.staged.newBytes } });
    return { id: a.id, imported: true, objects: a.objectsInArchive, newObjects: a.staged.newObjects, newBytes: a.staged.newBytes };
  });
  return outcome(result, (r) =>
    r.dryRun
      ? `${r.present ? `snapshot ${shortId(r.id)} is already in the store` : `would import snapshot ${shortId(r.id)} (${r.newObjects} new object(s), ${formatBytes(r.newBytes)})`}; the archive checks out (dry run: nothing was written)`
      : r.imported
        ? `imported snapshot ${shortId(r.id)} (${r.newObjects} new object(s))`
        : `snapshot ${shortId(r.id)} is already in the store; nothing imported`,
  );
}
