import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { createHash, hash } from 'node:crypto';
import { join } from 'node:path';
import { looseObjectPath, type StoreLayout } from './layout.js';
import { readPackIndex } from './objects.js';
import { PACK_RECORD, readU64 } from './pack.js';

/** A whole pack, one loose object, or one object inside a pack (when only a few of a pack's are needed). */
export type ObjectTask = { kind: 'pack'; pack: string } | { kind: 'loose'; hash: string } | { kind: 'packed'; hash: string; pack: string; offset: number; length: number };

/** Bytes a task reads, for batching. */
export function taskWeight(t: ObjectTask, packBytes: (pack: string) => number): number {
  return t.kind === 'packed' ? t.length : t.kind === 'pack' ? packBytes(t.pack) : 1 << 20;
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
