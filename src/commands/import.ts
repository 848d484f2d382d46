import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { readExport } from '../archive/import.js';
import { shortId } from '../core/ref.js';
import { SnapgovError } from '../errors.js';
import { formatBytes, outcome, type GlobalOptions, type Outcome } from '../output.js';
import { appendAudit } from '../store/audit-log.js';
import { ensureStoreDirs, manifestPath, metadataPath } from '../store/layout.js';
import { commitStaged, discardStaged, ObjectIndex } from '../store/objects.js';
import { signatureFile, writeSignatureFile } from '../store/signature-files.js';
import { writeMetadata } from '../store/snapshots.js';
import { atomicWriteFile } from '../util/fsx.js';
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
    try {
      lock.assertHeld();
      ensureStoreDirs(layout);
      commitStaged(layout, a.staged);
      if (!existsSync(manifestPath(layout, a.id))) atomicWriteFile(manifestPath(layout, a.id), a.manifest, { mode: 0o444 });
      // Signature files are written from the records under their canonical names: never a path from the archive.
      const signatures = a.metadata.signatures.map((r) => ({ ...r, file: signatureFile(a.id, r) }));
      for (const r of signatures) writeSignatureFile(layout, r);
      // The record before the metadata that makes the snapshot visible, as create does.
      await appendAudit(layout, { action: 'import', to: a.id, outcome: 'success', details: { file: path, objects: a.objectsInArchive, newObjects: a.staged.newObjects, newBytes: a.staged.newBytes } });
      writeMetadata(layout, { ...a.metadata, signatures });
    } catch (e) {
      discardStaged(a.staged);
      throw e;
    }
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
