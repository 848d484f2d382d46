import { existsSync, lstatSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { within } from '../core/paths.js';
import { SnapgovError } from '../errors.js';
import { managedPathTest } from '../scan/walk.js';
import type { Store } from '../store/open.js';
import { realFolder } from '../util/fsx.js';

/**
 * A file a command writes (an export, an evidence bundle) must not land in the store (it would replace the audit log
 * or a pack) or among the managed files (the next snapshot would hold it), nor go through a link.
 */
export function refuseOutputPath(store: Store, file: string, flag: string): void {
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
