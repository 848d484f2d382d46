import { closeSync, constants, fchmodSync, openSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { FileMode } from '../core/manifest.js';
import { ObjectReader, type ObjectLocation } from '../store/objects.js';
import type { StoreLayout } from '../store/layout.js';
import { faultPoint } from '../util/fault.js';
import { writeAllSync } from '../util/fsx.js';

/** Temporary files a rollback writes beside their targets; a resumed rollback removes leftovers. */
export const TEMP_MARK = '.snapgov-tmp-';
let tempSeq = 0;

export interface StageItem {
  path: string;
  sha256: string;
  mode: FileMode;
  loc: ObjectLocation;
}

export interface Staged {
  tmp: string;
  dest: string;
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
        out.push({ tmp, dest });
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

  /** `replaceDirs`: destinations that are folders now; preflight proved them empty after the removals. */
  rename(pairs: readonly Staged[], replaceDirs: ReadonlySet<string>): void {
    for (const s of pairs) {
      if (replaceDirs.has(s.dest)) rmdirSync(s.dest);
      renameSync(s.tmp, s.dest);
      faultPoint('rollback-rename');
    }
  }

  close(): void {
    this.reader.close();
  }
}
