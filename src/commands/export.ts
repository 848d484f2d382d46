import { resolve } from 'node:path';
import { writeExport } from '../archive/export.js';
import { refuseOutputPath } from '../archive/output-path.js';
import { shortId } from '../core/ref.js';
import { SnapgovError } from '../errors.js';
import { formatBytes, outcome, type GlobalOptions, type Outcome } from '../output.js';
import { ObjectIndex } from '../store/objects.js';
import { openStore, resolveSnapshot, withLock } from '../store/open.js';
import { progress } from '../util/progress.js';

export interface ExportResult {
  id: string;
  file: string;
  objects: number;
  bytes: number;
}

export async function exportCmd(ref: string, opts: { output?: string }, g: GlobalOptions): Promise<Outcome<ExportResult>> {
  if (!opts.output) throw new SnapgovError('USAGE', 'export needs -o FILE.tar', 'for example: snapgov export latest -o snapshot.tar (or -o - for stdout)');
  if (opts.output === '-' && g.json) throw new SnapgovError('USAGE', '--json and -o - both want stdout', 'write the archive to a file, or drop --json');
  const store = await openStore(g);
  const { layout } = store;
  const snap = await resolveSnapshot(layout, ref);
  const file = opts.output === '-' ? '-' : resolve(opts.output);
  if (file !== '-') refuseOutputPath(store, file, '-o');
  if (file !== '-') progress(`writing ${file}…`);
  const stats = await withLock(g, layout, 'shared', 'export', async () => writeExport(layout, ObjectIndex.load(layout), snap.meta, file));
  const result: ExportResult = { id: snap.id, file, ...stats };
  // With -o - the archive is stdout, so the human summary must stay off it.
  return outcome(result, (r) => (file === '-' ? '' : `exported ${shortId(r.id)} to ${r.file}: ${r.objects} object(s), ${formatBytes(r.bytes)}`));
}
