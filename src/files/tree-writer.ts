import { closeSync, constants, fchmodSync, lstatSync, openSync, renameSync, rmSync } from 'node:fs';
import { statOf } from './scanner.js';
import { STAT_RECORD, writeRecord } from '../store/stat-cache.js';
import { basename, dirname, join } from 'node:path';
import type { FileMode } from '../core/manifest.js';
import { ObjectReader, type ObjectLocation } from '../store/objects.js';
import type { StoreLayout } from '../store/layout.js';
import { faultPoint } from '../util/fault.js';
import { removeEmptyTree, writeAllSync } from '../util/fsx.js';

/** Temporary files a rollback writes beside their targets; a resumed rollback removes leftovers. */
export const TEMP_MARK = '.snapgov-tmp-';
let tempSeq = 0;

export interface StageItem {
  path: string;
  sha256: string;
  /** The file's size in the manifest: how threads share the work. */
  size: number;
  mode: FileMode;
  loc: ObjectLocation;
}

export interface Staged {
  tmp: string;
  dest: string;
  /** Content hash of a staged file (none for symlinks). */
  sha256?: string;
}

/** A temporary name in the same folder as `dest`, so the final rename is atomic. */
export function tempBeside(dest: string): string {
  return join(dirname(dest), `${TEMP_MARK}${process.pid}-${process.hrtime.bigint() % 1_000_000n}-${tempSeq++}-${basename(dest).slice(0, 40)}`);
}

/**
 * Writes files of a rollback in two steps that threads can share: stage (the object's bytes,
 * re-hashed as read, into a temporary file beside the destination, mode set) and rename (atomic
 * replace). Folders exist already (the main thread makes them, refusing symlinks in the way).
 */
export class TreeWriter {
  private readonly reader: ObjectReader;

  constructor(
    private readonly root: string,
    layout: StoreLayout,
  ) {
    this.reader = new ObjectReader(layout);
  }

  stage(items: readonly StageItem[]): Staged[] {
    const out: Staged[] = [];
    try {
      for (const e of items) {
        const dest = join(this.root, e.path);
        const tmp = tempBeside(dest);
        const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        out.push({ tmp, dest, sha256: e.sha256 });
        try {
          this.reader.read(e.sha256, e.loc, (chunk) => writeAllSync(fd, chunk));
          fchmodSync(fd, e.mode === '0755' ? 0o755 : 0o644);
        } finally {
          closeSync(fd);
        }
        faultPoint('rollback-stage');
      }
      return out;
    } catch (e) {
      for (const s of out) rmSync(s.tmp, { force: true });
      throw e;
    }
  }

  /**
   * `replaceDirs`: destinations that are folders now; preflight proved them empty after the
   * removals. Returns stat-cache records of the files now in place (their content is known: it was
   * hashed as it was read from the store), so verifying the tree need not read them back.
   */
  rename(pairs: readonly Staged[], replaceDirs: ReadonlySet<string>): Buffer {
    const records = Buffer.alloc(pairs.length * STAT_RECORD);
    let n = 0;
    for (const s of pairs) {
      if (replaceDirs.has(s.dest)) removeEmptyTree(s.dest);
      renameSync(s.tmp, s.dest);
      faultPoint('rollback-rename');
      if (s.sha256) writeRecord(records, n++ * STAT_RECORD, statOf(lstatSync(s.dest)), Buffer.from(s.sha256, 'hex'));
    }
    return records.subarray(0, n * STAT_RECORD);
  }

  close(): void {
    this.reader.close();
  }
}
