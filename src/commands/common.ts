import { existsSync } from 'node:fs';
import { removeMatching } from '../util/fsx.js';
import { onInterrupt } from '../util/cleanup.js';
import { loadWorkspace, type Workspace } from '../config/config.js';
import { SnapgovError } from '../errors.js';
import type { GlobalOptions } from '../output.js';
import { storeLayout, type StoreLayout } from '../store/layout.js';
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
  onInterrupt(() => removeOwnTemps(layout.tmp));
  const unaudited = await auditConfigChange(ws, layout);
  if (unaudited) process.stderr.write(`warning: ${unaudited}\n`);
  // An interrupted rollback leaves the tree between two snapshots: every other command says so.
  if (!opts.rollback && existsSync(layout.journal)) {
    process.stderr.write(`warning: a rollback was interrupted; run \`snapgov rollback --resume\` to finish it (the journal is ${layout.journal})\n`);
  }
  return { ws, layout };
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
