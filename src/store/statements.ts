import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { atomicWriteFile, ensureDir } from '../util/fsx.js';
import { hexOf, type StoreLayout } from './layout.js';

/** How a stored statement is signed: an OpenPGP DSSE envelope, or a Sigstore bundle holding one. */
export type StatementFormat = 'dsse' | 'sigstore';

export interface StoredStatement {
  /** Relative to the metadata folder. */
  file: string;
  format: StatementFormat;
  text: string;
}

const NAME = /^([0-9a-f]{64})\.(dsse|sigstore)\.json$/;

export function statementsDir(l: StoreLayout, id: string): string {
  return join(l.metadata, 'statements', hexOf(id));
}

/**
 * Statements about a snapshot (approvals, rejections, decisions) are files named by the SHA-256 of
 * their bytes: written once, never replaced, and kept when the snapshot is pruned (they are the
 * evidence of what was decided about it). Returns the file (relative to the metadata folder) and
 * its digest.
 */
export function writeStatement(l: StoreLayout, id: string, text: string, format: StatementFormat): { file: string; digest: string } {
  const hex = createHash('sha256').update(text).digest('hex');
  const dir = statementsDir(l, id);
  ensureDir(dir);
  atomicWriteFile(join(dir, `${hex}.${format}.json`), text);
  return { file: join('statements', hexOf(id), `${hex}.${format}.json`), digest: `sha256:${hex}` };
}

/** The hex IDs of the snapshots that have statements. */
export function listStatementDirs(l: StoreLayout): string[] {
  try {
    return readdirSync(join(l.metadata, 'statements')).filter((n) => /^[0-9a-f]{64}$/.test(n));
  } catch {
    return [];
  }
}

/** Decisions (promotions) are named by their digest too, in one folder: a pin names its decision by digest. */
export function writeDecision(l: StoreLayout, text: string, format: StatementFormat): { file: string; digest: string } {
  const hex = createHash('sha256').update(text).digest('hex');
  const dir = join(l.metadata, 'decisions');
  ensureDir(dir);
  atomicWriteFile(join(dir, `${hex}.${format}.json`), text);
  return { file: join('decisions', `${hex}.${format}.json`), digest: `sha256:${hex}` };
}

/** The decision a pin names, or null when its file is gone. */
export function readDecision(l: StoreLayout, digest: string): StoredStatement | null {
  const hex = digest.slice('sha256:'.length);
  for (const format of ['dsse', 'sigstore'] as const) {
    const file = join('decisions', `${hex}.${format}.json`);
    try {
      return { file, format, text: readFileSync(join(l.metadata, file), 'utf8') };
    } catch {
      // the other format, or missing
    }
  }
  return null;
}

/** Every statement stored about a snapshot, in name order; files of other names are left out. */
export function readStatements(l: StoreLayout, id: string): StoredStatement[] {
  const dir = statementsDir(l, id);
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  return names.flatMap((n) => {
    const m = NAME.exec(n);
    return m ? [{ file: join('statements', hexOf(id), n), format: m[2] as StatementFormat, text: readFileSync(join(dir, n), 'utf8') }] : [];
  });
}
