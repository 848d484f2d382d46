import { readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { SnapgovError } from '../errors.js';
import { validate } from '../schema.js';
import type { StoreLayout } from '../store/layout.js';
import { atomicWriteFile, fsyncDir } from '../util/fsx.js';

/** Written (durably) before a rollback changes the tree, removed when it ends: its presence means "interrupted". */
export interface Journal {
  format: 'snapgov-rollback-journal/1';
  to: string;
  from: string | null;
  safety: string | null;
  reason: string | null;
  startedAt: string;
  requestId: string;
}

export async function readJournal(l: StoreLayout): Promise<Journal | null> {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(l.journal, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SnapgovError('STORE_CORRUPT', `the rollback journal ${l.journal} is unreadable`, 'a rollback was interrupted; check `snapgov status`, roll back explicitly to the snapshot you want (`snapgov rollback REF`), then remove the journal file');
  }
  const v = await validate('journal', doc);
  if (!v.ok) throw new SnapgovError('STORE_CORRUPT', `the rollback journal is invalid: ${v.errors.join('; ')}`, 'a rollback was interrupted; roll back explicitly to the snapshot you want (`snapgov rollback REF`), then remove the journal file');
  return doc as Journal;
}

export function writeJournal(l: StoreLayout, j: Journal): void {
  atomicWriteFile(l.journal, JSON.stringify(j, null, 2) + '\n');
}

export function clearJournal(l: StoreLayout): void {
  rmSync(l.journal, { force: true });
  fsyncDir(dirname(l.journal));
}
