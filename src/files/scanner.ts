import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { createHash, hash } from 'node:crypto';
import { join } from 'node:path';
import { LOOSE_MIN, type ObjectWriter } from '../store/objects.js';
import { STAT_RECORD, writeRecord, type FileStat } from '../store/stat-cache.js';
import { writeAllSync } from '../util/fsx.js';

export const KIND_FILE = 0;
export const KIND_SKIPPED = 1;

/**
 * What one batch of files turned out to be. Compact on purpose (typed arrays cross thread
 * boundaries cheaply): one kind per path, and for each regular file, in order, a stat-cache
 * record holding its stat and SHA-256.
 */
export interface ScanBatch {
  kinds: Uint8Array;
  records: Buffer;
  errors: Record<number, string>;
}

const CHUNK = 1 << 20;
const ATTEMPTS = 3;

export function statOf(st: Stats): FileStat {
  return { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, mode: st.mode };
}

function sameStat(a: Stats, b: Stats): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino;
}

/** Errors that are the store's (or the system's), not the file's: they stop the command instead of skipping a file. */
function isStoreFailure(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'EROFS' || code === 'EMFILE' || code === 'ENFILE';
}

export function describeErr(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err?.code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOENT':
      return 'the file disappeared while the tree was read';
    case 'ELOOP':
      return 'the file became a symlink while the tree was read';
    case 'EISDIR':
      return 'the file became a directory while the tree was read';
    default:
      return err?.message ?? String(e);
  }
}

/**
 * Reads and hashes files with synchronous calls into one reused buffer (the fastest way from Node,
 * see docs/performance.md). New content is staged in the store while it is read, so each file is
 * read once. A file that changes while it is read is read again; after three tries it is
 * reported. Used on worker threads and, for small jobs, inline.
 */
export class TreeScanner {
  private readonly buf = Buffer.allocUnsafe(CHUNK + 1);
  private readonly digest = Buffer.alloc(32);

  constructor(
    private readonly root: string,
    private readonly writer: ObjectWriter | null,
  ) {}

  /** Reads and hashes files the main thread found changed (stat-cache misses). */
  hashPaths(rels: readonly string[]): ScanBatch {
    const kinds = new Uint8Array(rels.length);
    const records = Buffer.alloc(rels.length * STAT_RECORD);
    const out: ScanBatch = { kinds, records, errors: {} };
    let files = 0;
    for (let i = 0; i < rels.length; i++) {
      const r = this.hashFile(join(this.root, rels[i]!));
      if (typeof r === 'string') {
        kinds[i] = KIND_SKIPPED;
        out.errors[i] = r;
      } else {
        writeRecord(records, files++ * STAT_RECORD, r, this.digest);
        kinds[i] = KIND_FILE;
      }
    }
    out.records = records.subarray(0, files * STAT_RECORD);
    return out;
  }

  /** Hashes (and stages) one file; its stat, or the reason it could not be read. */
  private hashFile(abs: string): FileStat | string {
    let lastReason = 'unknown error';
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      let fd: number;
      try {
        // O_NOFOLLOW: if the path became a symlink since the walk, refuse rather than read its target.
        fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW);
      } catch (e) {
        return describeErr(e);
      }
      try {
        const r = this.readOnce(fd);
        if (r) return r;
        lastReason = 'the file kept changing while it was read';
      } catch (e) {
        if (isStoreFailure(e)) throw e;
        return describeErr(e);
      } finally {
        closeSync(fd);
      }
    }
    return lastReason;
  }

  /** One read of an open file into this.digest; null when it changed meanwhile. */
  private readOnce(fd: number): FileStat | string | null {
    const before = fstatSync(fd);
    if (!before.isFile()) return 'no longer a regular file';
    if (before.size < LOOSE_MIN) {
      let n = 0;
      for (;;) {
        const got = readSync(fd, this.buf, n, this.buf.length - n, n);
        if (got === 0) break;
        n += got;
        if (n >= this.buf.length) break;
      }
      if (n !== before.size || !sameStat(before, fstatSync(fd))) return null;
      const data = this.buf.subarray(0, n);
      hash('sha256', data, 'buffer').copy(this.digest);
      this.writer?.addSmall(this.digest, this.digest.toString('hex'), data);
      return statOf(before);
    }
    const h = createHash('sha256');
    const temp = this.writer?.beginLarge() ?? null;
    try {
      let pos = 0;
      for (;;) {
        const got = readSync(fd, this.buf, 0, CHUNK, pos);
        if (got === 0) break;
        const chunk = this.buf.subarray(0, got);
        h.update(chunk);
        if (temp) writeAllSync(temp.fd, chunk);
        pos += got;
      }
      if (pos !== before.size || !sameStat(before, fstatSync(fd))) {
        if (temp) this.writer!.abortLarge(temp);
        return null;
      }
      h.digest().copy(this.digest);
      if (temp) this.writer!.endLarge(temp, this.digest, this.digest.toString('hex'), pos);
      return statOf(before);
    } catch (e) {
      if (temp) this.writer!.abortLarge(temp);
      throw e;
    }
  }
}
