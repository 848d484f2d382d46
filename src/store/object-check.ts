import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { createHash, hash } from 'node:crypto';
import { join } from 'node:path';
import { looseObjectPath, type StoreLayout } from './layout.js';
import { readPackIndex } from './objects.js';
import { encodePackIndex, PACK_RECORD, readU64, type PackEntry } from './pack.js';

/**
 * A whole pack, one loose object, or one object inside a pack (when only a few of a pack's are
 * needed); or a blob a pull downloaded into a staging file (a whole pack, or one large object).
 */
export type ObjectTask =
  | { kind: 'pack'; pack: string }
  | { kind: 'loose'; hash: string }
  | { kind: 'packed'; hash: string; pack: string; offset: number; length: number }
  | { kind: 'staged'; file: string; digest: string; size: number; entries: PackEntry[] | null };

/** Bytes a task reads, for batching. */
export function taskWeight(t: ObjectTask, packBytes: (pack: string) => number): number {
  return t.kind === 'packed' ? t.length : t.kind === 'pack' ? packBytes(t.pack) : t.kind === 'staged' ? t.size : 1 << 20;
}

export interface ObjectFailure {
  hash: string;
  code: 'OBJECT_MISSING' | 'OBJECT_CORRUPT' | 'OBJECT_SIZE_MISMATCH';
  message: string;
}

const CHUNK = 1 << 20;
/** Packs are read through a window this large (objects in packs are smaller than 1 MiB). */
const WINDOW = 4 << 20;

/**
 * Re-hashes stored objects for `verify --read-data`: a pack is read once, sequentially, and every
 * object in it hashed against its index record; a loose object is streamed. A mismatch is read
 * again once before it counts (restic's rule: a flaky read is not corruption).
 */
export class ObjectChecker {
  private buf = Buffer.allocUnsafe(CHUNK);

  constructor(private readonly layout: StoreLayout) {}

  check(task: ObjectTask): ObjectFailure[] {
    if (task.kind === 'pack') return this.checkPack(task.pack);
    if (task.kind === 'loose') return this.checkLoose(task.hash);
    if (task.kind === 'staged') return this.checkStaged(task.file, task.digest, task.size, task.entries);
    return this.checkPacked(task.hash, task.pack, task.offset, task.length);
  }

  private checkPacked(objectHash: string, pack: string, offset: number, length: number): ObjectFailure[] {
    const file = join(this.layout.packs, `${pack}.pack`);
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch {
      return [{ hash: objectHash, code: 'OBJECT_MISSING', message: `pack ${pack}.pack is missing` }];
    }
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        const got = this.readAll(fd, length, offset);
        if (got !== length) return [{ hash: objectHash, code: 'OBJECT_SIZE_MISMATCH', message: `object is cut off in pack ${pack}.pack` }];
        if (hash('sha256', this.buf.subarray(0, length)) === objectHash) return [];
      }
      return [{ hash: objectHash, code: 'OBJECT_CORRUPT', message: `object content does not match its hash (pack ${pack}.pack at ${offset})` }];
    } finally {
      closeSync(fd);
    }
  }

  private readAll(fd: number, length: number, position: number): number {
    if (this.buf.length < length) this.buf = Buffer.allocUnsafe(length);
    let n = 0;
    while (n < length) {
      const got = readSync(fd, this.buf, n, length - n, position + n);
      if (got === 0) break;
      n += got;
    }
    return n;
  }

  private checkPack(pack: string): ObjectFailure[] {
    const name = `${pack}.pack`;
    let fd: number;
    try {
      fd = openSync(join(this.layout.packs, name), 'r');
    } catch {
      return [{ hash: pack, code: 'OBJECT_MISSING', message: `pack ${name} is missing` }];
    }
    try {
      const idx = readPackIndex(fd, name);
      if (typeof idx === 'string') return [{ hash: pack, code: 'OBJECT_CORRUPT', message: idx }];
      const out: ObjectFailure[] = [];
      // Objects are in offset order: read the pack sequentially through a window of WINDOW bytes.
      const nameAt = (at: number): string => idx.index.toString('hex', at, at + 32);
      let winStart = 0;
      let winEnd = 0;
      for (let i = 0; i < idx.count; i++) {
        const at = i * PACK_RECORD;
        const offset = readU64(idx.index, at + 32);
        const length = readU64(idx.index, at + 40);
        if (offset + length > winEnd) {
          winStart = offset;
          winEnd = offset + this.readAll(fd, Math.min(Math.max(WINDOW, length), idx.dataEnd - offset), offset);
        }
        if (offset + length > winEnd) {
          out.push({ hash: nameAt(at), code: 'OBJECT_SIZE_MISMATCH', message: `object is cut off in pack ${name}` });
          continue;
        }
        const digest = hash('sha256', this.buf.subarray(offset - winStart, offset - winStart + length), 'buffer');
        if (digest.compare(idx.index, at, at + 32) === 0) continue;
        const again = this.rehashRange(fd, offset, length);
        if (again !== nameAt(at)) out.push({ hash: nameAt(at), code: 'OBJECT_CORRUPT', message: `object content hashes to ${again} (pack ${name} at ${offset})` });
      }
      return out;
    } finally {
      closeSync(fd);
    }
  }

  private rehashRange(fd: number, offset: number, length: number): string {
    const b = Buffer.allocUnsafe(length);
    readSync(fd, b, 0, length, offset);
    return hash('sha256', b);
  }

  /**
   * A downloaded blob, read once: all of it hashes to `digest` (hex) and is `size` bytes long; for
   * a pack, each object in `entries` (offset order) hashes to its record and the file ends with
   * exactly those records as its index, since the store reads a pack's objects from its own index.
   */
  private checkStaged(file: string, digest: string, size: number, entries: PackEntry[] | null): ObjectFailure[] {
    const fd = openSync(file, 'r');
    try {
      const whole = createHash('sha256');
      // buf[0 .. end - base) holds the file's bytes from `base`; each byte is read and hashed once,
      // and what lies before `keepFrom` is dropped to make room.
      let buf = this.buf;
      let base = 0;
      let end = 0;
      const readTo = (keepFrom: number, to: number) => {
        while (end < to) {
          if (keepFrom > base) {
            const from = Math.min(keepFrom, end);
            buf.copyWithin(0, from - base, end - base);
            base = from;
          }
          const got = readSync(fd, buf, end - base, Math.min(buf.length - (end - base), size - end), end);
          if (got === 0) return;
          whole.update(buf.subarray(end - base, end - base + got));
          end += got;
        }
      };
      const cut = (what: string): ObjectFailure[] => [{ hash: digest, code: 'OBJECT_SIZE_MISMATCH', message: `${what} is cut off in the downloaded blob sha256:${digest}` }];
      for (const e of entries ?? []) {
        // The caller bounds the length of an object in a pack (a few MiB).
        if (buf.length < WINDOW + e.length) {
          const grown = Buffer.allocUnsafe(WINDOW + e.length);
          buf.copy(grown, 0, 0, end - base);
          this.buf = buf = grown;
        }
        readTo(e.offset, e.offset + e.length);
        if (end < e.offset + e.length) return cut(`object ${e.hash}`);
        if (hash('sha256', buf.subarray(e.offset - base, e.offset - base + e.length)) !== e.hash) return [{ hash: e.hash, code: 'OBJECT_CORRUPT', message: `object ${e.hash} in the downloaded pack sha256:${digest} has other bytes than its hash` }];
      }
      readTo(Infinity, size);
      if (end < size) return cut('the end');
      if (fstatSync(fd).size !== size || whole.digest('hex') !== digest) return [{ hash: digest, code: 'OBJECT_CORRUPT', message: `the downloaded blob does not hash to sha256:${digest} (or is not ${size} bytes long)` }];
      if (entries) {
        const index = encodePackIndex(entries);
        const tail = Buffer.allocUnsafe(index.length);
        if (size < index.length || readSync(fd, tail, 0, tail.length, size - tail.length) !== tail.length || !tail.equals(index)) return [{ hash: digest, code: 'OBJECT_CORRUPT', message: `the index at the end of the downloaded pack sha256:${digest} is not the one read before` }];
      }
      return [];
    } finally {
      closeSync(fd);
    }
  }

  private checkLoose(hash: string): ObjectFailure[] {
    const file = looseObjectPath(this.layout, hash);
    let last: ObjectFailure | null = null;
    for (let attempt = 0; attempt < 2; attempt++) {
      let fd: number;
      try {
        fd = openSync(file, 'r');
      } catch {
        return [{ hash, code: 'OBJECT_MISSING', message: `object file missing: ${file}` }];
      }
      try {
        const size = fstatSync(fd).size;
        const h = createHash('sha256');
        let pos = 0;
        for (;;) {
          const got = readSync(fd, this.buf, 0, CHUNK, pos);
          if (got === 0) break;
          h.update(this.buf.subarray(0, got));
          pos += got;
        }
        const got = h.digest('hex');
        if (got === hash) return [];
        last = { hash, code: 'OBJECT_CORRUPT', message: `object content (${size} bytes) hashes to ${got}` };
      } finally {
        closeSync(fd);
      }
    }
    return [last!];
  }
}
