import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { LOOSE_MIN, ObjectWriter, type ObjectLocation } from '../store/objects.js';
import { looseObjectPath, type StoreLayout } from '../store/layout.js';
import { writeAllSync } from '../util/fsx.js';

/** A file to read: its workspace-relative path and absolute path. */
export interface FileTask {
  rel: string;
  abs: string;
}

export interface FileStat {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  mode: number;
}

export type FileResult =
  | { rel: string; ok: true; sha256: string; stat: FileStat; isNew: boolean }
  | { rel: string; ok: false; reason: string };

export interface ObjectTask {
  hash: string;
  loc: ObjectLocation;
}

export type ObjectCheck = { hash: string; ok: true } | { hash: string; ok: false; code: 'OBJECT_MISSING' | 'OBJECT_CORRUPT' | 'OBJECT_SIZE_MISMATCH'; message: string };

const CHUNK = 1 << 20;
const ATTEMPTS = 3;

export function statOf(st: Stats): FileStat {
  return { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino, mode: st.mode };
}

function sameStat(a: Stats, b: Stats): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino;
}

/**
 * Reads and hashes files with synchronous calls into one reused buffer (the fastest way from Node,
 * see docs/performance.md) and stages new content in the store while reading, so each file is read
 * once. A file that changes while it is read is read again; after three tries it is reported.
 */
export class FileHasher {
  private readonly buf = Buffer.allocUnsafe(CHUNK + 1);

  constructor(
    private readonly writer: ObjectWriter | null,
    private readonly layout: StoreLayout,
  ) {}

  hashFile(task: FileTask): FileResult {
    let lastReason = 'unknown error';
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      let fd: number;
      try {
        // O_NOFOLLOW: if the path became a symlink since the walk, refuse rather than read its target.
        fd = openSync(task.abs, constants.O_RDONLY | constants.O_NOFOLLOW);
      } catch (e) {
        return { rel: task.rel, ok: false, reason: describeErr(e) };
      }
      try {
        const r = this.readOnce(fd, task);
        if (r) return r;
        lastReason = 'the file kept changing while it was read';
      } catch (e) {
        if (isStoreFailure(e)) throw e;
        return { rel: task.rel, ok: false, reason: describeErr(e) };
      } finally {
        closeSync(fd);
      }
    }
    return { rel: task.rel, ok: false, reason: lastReason };
  }

  /** One read of an open file; null when it changed meanwhile. */
  private readOnce(fd: number, task: FileTask): FileResult | null {
    const before = fstatSync(fd);
    if (!before.isFile()) return { rel: task.rel, ok: false, reason: 'no longer a regular file' };
    const h = createHash('sha256');
    if (before.size < LOOSE_MIN) {
      let n = 0;
      for (;;) {
        const got = readSync(fd, this.buf, n, this.buf.length - n, n);
        if (got === 0) break;
        n += got;
        if (n >= this.buf.length) break;
      }
      const after = fstatSync(fd);
      if (n !== before.size || !sameStat(before, after)) return null;
      const data = this.buf.subarray(0, n);
      const digest = h.update(data).digest();
      const hex = digest.toString('hex');
      const isNew = this.writer ? this.writer.addSmall(digest, hex, data) : false;
      return { rel: task.rel, ok: true, sha256: hex, stat: statOf(before), isNew };
    }
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
      const after = fstatSync(fd);
      if (pos !== before.size || !sameStat(before, after)) {
        if (temp) this.writer!.abortLarge(temp);
        return null;
      }
      const digest = h.digest();
      const hex = digest.toString('hex');
      const isNew = temp ? this.writer!.endLarge(temp, digest, hex, pos) : false;
      return { rel: task.rel, ok: true, sha256: hex, stat: statOf(before), isNew };
    } catch (e) {
      if (temp) this.writer!.abortLarge(temp);
      throw e;
    }
  }

  /** Re-hashes one stored object (verify --read-data); a read error is retried once before it counts. */
  checkObject(task: ObjectTask): ObjectCheck {
    const file = task.loc.pack === null ? looseObjectPath(this.layout, task.hash) : join(this.layout.packs, `${task.loc.pack}.pack`);
    let last: ObjectCheck = { hash: task.hash, ok: false, code: 'OBJECT_MISSING', message: 'object missing' };
    for (let attempt = 0; attempt < 2; attempt++) {
      let fd: number;
      try {
        fd = openSync(file, constants.O_RDONLY);
      } catch {
        return { hash: task.hash, ok: false, code: 'OBJECT_MISSING', message: `object file missing: ${file}` };
      }
      try {
        const start = task.loc.pack === null ? 0 : task.loc.offset;
        const size = task.loc.pack === null ? fstatSync(fd).size : task.loc.size;
        const h = createHash('sha256');
        let pos = 0;
        while (pos < size) {
          const got = readSync(fd, this.buf, 0, Math.min(CHUNK, size - pos), start + pos);
          if (got === 0) break;
          h.update(this.buf.subarray(0, got));
          pos += got;
        }
        if (pos !== size) {
          last = { hash: task.hash, ok: false, code: 'OBJECT_SIZE_MISMATCH', message: `object is truncated (${pos} of ${size} bytes)` };
          continue;
        }
        const got = h.digest('hex');
        if (got === task.hash) return { hash: task.hash, ok: true };
        last = { hash: task.hash, ok: false, code: 'OBJECT_CORRUPT', message: `object content hashes to ${got}` };
      } catch (e) {
        last = { hash: task.hash, ok: false, code: 'OBJECT_CORRUPT', message: `cannot read object: ${describeErr(e)}` };
      } finally {
        closeSync(fd);
      }
    }
    return last;
  }
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
