import { existsSync } from 'node:fs';
import { loadWorkspace, type Workspace } from '../config/config.js';
import { SnapgovError } from '../errors.js';
import type { GlobalOptions } from '../output.js';
import { onInterrupt } from '../util/cleanup.js';
import { removeMatching } from '../util/fsx.js';
import { boundedList } from '../util/text.js';
import { auditConfigChange } from './config-record.js';
import { foreignEntries, linkedFolders, storeLayout, type StoreLayout } from './layout.js';
import { acquireLock, type LockKind, type StoreLock } from './lock.js';
import { loadHistory, resolveStoreRef, type SnapshotRecord } from './snapshots.js';

/** A workspace and its store: what every command opens first (the boundary checks run here). */
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
