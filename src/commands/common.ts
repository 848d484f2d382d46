import { existsSync, lstatSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { within } from '../core/paths.js';
import { managedPathTest } from '../scan/walk.js';
import { realFolder, removeMatching } from '../util/fsx.js';
import { onInterrupt } from '../util/cleanup.js';
import { loadWorkspace, type Workspace } from '../config/config.js';
import { SnapgovError } from '../errors.js';
import type { GlobalOptions } from '../output.js';
import { foreignEntries, linkedFolders, storeLayout, type StoreLayout } from '../store/layout.js';
import { boundedList } from '../util/text.js';
import { auditConfigChange } from '../store/config-record.js';
import { acquireLock, type LockKind, type StoreLock } from '../store/lock.js';
import { loadHistory, resolveStoreRef, type SnapshotRecord } from '../store/snapshots.js';

export interface Store {
  ws: Workspace;
  layout: StoreLayout;
}

export async function openStore(g: GlobalOptions, opts: { rollback?: boolean } = {}): Promise<Store> {
  const ws = await loadWorkspace(g.cwd);
  const layout = storeLayout(ws);
  refuseForeignStore(layout);
  onInterrupt(() => removeOwnTemps(layout.tmp));
  const unaudited = await auditConfigChange(ws, layout);
  if (unaudited) process.stderr.write(`warning: ${unaudited}\n`);
  // An interrupted rollback leaves the tree between two snapshots: every other command says so.
  if (!opts.rollback && existsSync(layout.journal)) {
    process.stderr.write(`warning: a rollback was interrupted; run \`snapgov rollback --resume\` to finish it (the journal is ${layout.journal})\n`);
  }
  return { ws, layout };
}

/** A store folder holding what snapgov did not put there is not adopted (exit 2), before anything is read or written. */
export function refuseForeignStore(layout: StoreLayout): void {
  const linked = linkedFolders(layout);
  if (linked.length) {
    throw new SnapgovError('STORE_CORRUPT', `store folders are symbolic links: ${boundedList(linked, 5)}`, 'snapgov never writes or deletes through a link; replace each link with a real folder (move what it points to into its place)');
  }
  const foreign = foreignEntries(layout);
  if (foreign.length) {
    throw new SnapgovError('CONFIG_INVALID', `the store folders hold files snapgov did not make, so they are not a snapgov store: ${boundedList(foreign, 5)}`, 'point "store.snapshots" and "store.metadata" in snapgov.json at new or empty folders (or at an existing snapgov store); snapgov never adopts a folder it did not make');
  }
}

/**
 * A file a command writes (an export) must not land in the store (it would replace the audit log
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

/** Temp files carry the writer's PID, so an interrupted run removes exactly its own. */
function removeOwnTemps(tmpDir: string): void {
  const tag = `-${process.pid}-`;
  removeMatching(tmpDir, (n) => n.includes(tag));
}

/** Runs `fn` holding the store lock; the lock is released however `fn` ends. */
export async function withLock<T>(g: GlobalOptions, layout: StoreLayout, kind: LockKind, command: string, fn: (lock: StoreLock) => Promise<T>): Promise<T> {
  const lock = await acquireLock(layout.locks, kind, { waitMs: g.lockWaitMs, command });
  try {
    return await fn(lock);
  } finally {
    lock.release();
  }
}

export async function resolveSnapshot(layout: StoreLayout, ref: string): Promise<SnapshotRecord> {
  const { snapshots } = await loadHistory(layout);
  return resolveStoreRef(layout, ref, snapshots);
}

/** Labels as given: a null-prototype map, so a key such as `__proto__` is kept as a label, never dropped. */
export function parseLabels(labels: string[]): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  for (const l of labels) {
    const eq = l.indexOf('=');
    if (eq <= 0) throw new SnapgovError('USAGE', `invalid label ${JSON.stringify(l)}`, 'write labels as KEY=VALUE, for example --label ticket=INC-42');
    out[l.slice(0, eq)] = l.slice(eq + 1);
  }
  return out;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
