import { existsSync, lstatSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { within } from '../core/paths.js';
import { managedPathTest } from '../scan/walk.js';
import { realFolder } from '../util/fsx.js';
import { writeExport } from '../archive/export.js';
import { shortId } from '../core/ref.js';
import { SnapgovError } from '../errors.js';
import { formatBytes, outcome, type GlobalOptions, type Outcome } from '../output.js';
import { ObjectIndex } from '../store/objects.js';
import { openStore, resolveSnapshot, withLock, type Store } from '../store/open.js';
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

/**
 * A file a command writes (an export) must not land in the store (it would replace the audit log
 * or a pack) or among the managed files (the next snapshot would hold it), nor go through a link.
 */
function refuseOutputPath(store: Store, file: string, flag: string): void {
  if (existsSync(file) && lstatSync(file).isSymbolicLink()) throw new SnapgovError('USAGE', `${flag} ${file} is a symbolic link`, 'name the file itself; snapgov never writes through a link');
  const real = join(realFolder(dirname(file)), basename(file));
  for (const d of Object.values(store.ws.dirs)) {
    if (within(realFolder(d), real)) throw new SnapgovError('USAGE', `${flag} ${file} lies inside the store folder ${d}`, 'write it outside the store, for example in /tmp or your home folder');
  }
  const root = realFolder(store.ws.root);
  if (within(root, real) && real !== root && managedPathTest(store.ws)(relative(root, real).split(sep).join('/'))) {
    throw new SnapgovError('USAGE', `${flag} ${file} lies among the managed files of ${store.ws.root}: the next snapshot would hold it`, 'write it outside the workspace, or into a folder "exclude" leaves out');
  }
}
