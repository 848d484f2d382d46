import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { readDocument } from '../schema.js';
import type { StoreLayout } from './layout.js';
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
  /** `snapgov restore`: only these paths are being restored (resume composes the same target). */
  paths?: string[];
}

export function readJournal(l: StoreLayout): Promise<Journal | null> {
  return readDocument<Journal>(l.journal, 'journal', `the rollback journal ${l.journal}`, 'a rollback was interrupted; roll back explicitly to the snapshot you want (`snapgov rollback REF`), which replaces the journal');
}

export function writeJournal(l: StoreLayout, j: Journal): void {
  atomicWriteFile(l.journal, JSON.stringify(j, null, 2) + '\n');
}

export function clearJournal(l: StoreLayout): void {
  rmSync(l.journal, { force: true });
  fsyncDir(dirname(l.journal));
}
