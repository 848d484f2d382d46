import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { changedSettings, type Workspace } from '../config/config.js';
import { sha256Hex } from '../core/manifest.js';
import { SnapgovError } from '../errors.js';
import { atomicWriteFile } from '../util/fsx.js';
import { appendAudit } from './audit-log.js';
import type { StoreLayout } from './layout.js';
import { acquireLock } from './lock.js';

/** The config as last audited: a copy in the metadata folder, so a change can be named key by key. */
export const recordedConfigPath = (l: StoreLayout) => join(l.metadata, 'config.json');

function readRecorded(l: StoreLayout): string | null {
  try {
    return readFileSync(recordedConfigPath(l), 'utf8');
  } catch {
    return null;
  }
}

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
};

/** Records the config as audited (init, and after a change was audited); callers hold the exclusive lock. */
export function writeRecordedConfig(l: StoreLayout, text: string): void {
  atomicWriteFile(recordedConfigPath(l), text, { mode: 0o600 });
}

/**
 * A hand edit of snapgov.json (trust switched off, a gate removed) is audited by the next command
 * that opens the store: one `config-change` line with the old and new digests and the settings that
 * changed. The audit line comes before the new copy, so a crash between them repeats the record
 * instead of losing it. When another process holds the lock, that process or the next command
 * records it; a read-only store is reported and left alone.
 */
export async function auditConfigChange(ws: Pick<Workspace, 'configPath' | 'configText'>, l: StoreLayout): Promise<string | null> {
  if (readRecorded(l) === ws.configText) return null;
  let lock;
  try {
    lock = await acquireLock(l.locks, 'exclusive', { waitMs: 0, command: 'config-change' });
  } catch (e) {
    if (e instanceof SnapgovError && e.code === 'LOCKED') return null;
    return `the change to ${ws.configPath} could not be audited: ${(e as Error).message}`;
  }
  try {
    const old = readRecorded(l);
    if (old === ws.configText) return null;
    const changed = old === null ? ['(first record of this config)'] : changedSettings(parse(old), parse(ws.configText));
    await appendAudit(l, { action: 'config-change', outcome: 'success', details: { from: old === null ? null : `sha256:${sha256Hex(Buffer.from(old))}`, to: `sha256:${sha256Hex(Buffer.from(ws.configText))}`, changed } });
    writeRecordedConfig(l, ws.configText);
    return null;
  } catch (e) {
    return `the change to ${ws.configPath} could not be audited: ${(e as Error).message}`;
  } finally {
    lock.release();
  }
}
