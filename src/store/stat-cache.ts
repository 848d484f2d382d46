import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { atomicWriteFile, ensureDir } from '../util/fsx.js';

/**
 * Remembers each file's SHA-256 by its inode and (size, mtime, ctime, mode), so an unchanged file
 * is not read again (git's index, borg's files cache). Keyed by inode rather than path: a file
 * whose inode and timestamps are unchanged has unchanged content, wherever it is linked. Binary,
 * sorted by inode and searched in place: loading 100,000 entries allocates nothing per entry, and
 * worker threads share it. It is only a cache: a damaged file is simply ignored.
 *
 * File: magic "SGSTAT01", then 72-byte records: ino, size, mtimeMs, ctimeMs (float64 LE),
 * mode (uint32 LE), 4 reserved bytes, SHA-256 (32 bytes).
 */
export const STAT_RECORD = 72;
export const HASH_AT = 40;
const MAGIC = Buffer.from('SGSTAT01');
const FILE = 'stat-cache';
/** Files touched this close to the scan are re-hashed next time: their timestamps cannot prove they did not change again within the clock's granularity. */
const RACY_MS = 2000;

export interface FileStat {
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  mode: number;
}

export function writeRecord(buf: Buffer, at: number, st: FileStat, hash: Buffer): void {
  buf.writeDoubleLE(st.ino, at);
  buf.writeDoubleLE(st.size, at + 8);
  buf.writeDoubleLE(st.mtimeMs, at + 16);
  buf.writeDoubleLE(st.ctimeMs, at + 24);
  buf.writeUInt32LE(st.mode, at + 32);
  buf.writeUInt32LE(0, at + 36);
  hash.copy(buf, at + HASH_AT, 0, 32);
}

export class StatCache {
  /** Number of records. */
  readonly n: number;

  /** Little-endian reads without Buffer's byte-by-byte readDoubleLE (the lookup runs once per file). */
  private readonly view: DataView;

  constructor(readonly records: Buffer) {
    this.n = Math.floor(records.length / STAT_RECORD);
    this.view = new DataView(records.buffer, records.byteOffset, records.byteLength);
  }

  static empty(): StatCache {
    return new StatCache(Buffer.from(new SharedArrayBuffer(0)));
  }

  /** Reads the cache straight into shared memory for the worker threads. */
  static load(cacheDir: string): StatCache {
    let fd: number;
    try {
      fd = openSync(join(cacheDir, FILE), 'r');
    } catch {
      return StatCache.empty();
    }
    try {
      const size = fstatSync(fd).size;
      if (size < MAGIC.length || (size - MAGIC.length) % STAT_RECORD !== 0) return StatCache.empty();
      const magic = Buffer.alloc(MAGIC.length);
      readSync(fd, magic, 0, MAGIC.length, 0);
      if (!magic.equals(MAGIC)) return StatCache.empty();
      const records = Buffer.from(new SharedArrayBuffer(size - MAGIC.length));
      let off = 0;
      while (off < records.length) {
        const got = readSync(fd, records, off, records.length - off, MAGIC.length + off);
        if (got === 0) return StatCache.empty();
        off += got;
      }
      return new StatCache(records);
    } finally {
      closeSync(fd);
    }
  }

  static fromShared(sab: SharedArrayBuffer): StatCache {
    return new StatCache(Buffer.from(sab));
  }

  share(): SharedArrayBuffer {
    return this.records.buffer as SharedArrayBuffer;
  }

  /**
   * The records flagged in `used` whose timestamps are both older than `limitMs`, still in inode
   * order. Runs of kept records are copied whole (most of a cache is kept from one scan to the next).
   */
  keep(used: Uint8Array, limitMs: number): Buffer {
    const out = Buffer.allocUnsafe(this.n * STAT_RECORD);
    const v = this.view;
    let w = 0;
    let run = -1;
    for (let k = 0; k <= this.n; k++) {
      const at = k * STAT_RECORD;
      const kept = k < this.n && used[k] === 1 && v.getFloat64(at + 16, true) < limitMs && v.getFloat64(at + 24, true) < limitMs;
      if (kept && run === -1) run = at;
      else if (!kept && run !== -1) {
        w += this.records.copy(out, w, run, at);
        run = -1;
      }
    }
    return out.subarray(0, w);
  }

  /** Byte offset of the record matching this stat exactly (its hash is at +HASH_AT), or -1. */
  lookup(st: FileStat): number {
    let lo = 0;
    let hi = this.n - 1;
    const v = this.view;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const at = mid * STAT_RECORD;
      const ino = v.getFloat64(at, true);
      if (ino < st.ino) lo = mid + 1;
      else if (ino > st.ino) hi = mid - 1;
      else {
        const same = v.getFloat64(at + 8, true) === st.size && v.getFloat64(at + 16, true) === st.mtimeMs && v.getFloat64(at + 24, true) === st.ctimeMs && v.getUint32(at + 32, true) === st.mode;
        return same ? at : -1;
      }
    }
    return -1;
  }
}

/** Records from several buffers (any order) as one buffer sorted by inode, one per inode (the first given); `keep` filters. */
export function sortRecords(parts: readonly Buffer[], keep: (buf: Buffer, at: number) => boolean = () => true): Buffer {
  const bufs: Buffer[] = [];
  const offsets: number[] = [];
  const inos: number[] = [];
  for (const buf of parts) {
    for (let at = 0; at + STAT_RECORD <= buf.length; at += STAT_RECORD) {
      if (!keep(buf, at)) continue;
      bufs.push(buf);
      offsets.push(at);
      inos.push(buf.readDoubleLE(at));
    }
  }
  const order = sortedByInode(inos);
  const out = Buffer.from(new SharedArrayBuffer(order.length * STAT_RECORD));
  let w = 0;
  let lastIno = -1;
  for (const k of order) {
    if (inos[k] === lastIno) continue; // hard links: one record per inode
    bufs[k]!.copy(out, w, offsets[k], offsets[k]! + STAT_RECORD);
    w += STAT_RECORD;
    lastIno = inos[k]!;
  }
  return out.subarray(0, w);
}

/** Positions of `inos` in ascending order, ties in input order. */
function sortedByInode(inos: readonly number[]): Uint32Array | number[] {
  const n = inos.length;
  // Inode and position packed into one exact double (inodes below 2^32, fewer than 2^21 records),
  // sorted by the engine without a comparator call per step.
  if (n < 2 ** 21 && inos.every((i) => i < 2 ** 32)) {
    const keys = new Float64Array(n);
    for (let k = 0; k < n; k++) keys[k] = inos[k]! * 2 ** 21 + k;
    keys.sort();
    const order = new Uint32Array(n);
    for (let k = 0; k < n; k++) order[k] = keys[k]! % 2 ** 21;
    return order;
  }
  return Array.from({ length: n }, (_, k) => k).sort((a, b) => inos[a]! - inos[b]! || a - b);
}

/** Offset of the first record at or after `from` whose inode is above `ino` (or, with `orEqual`, at least `ino`). */
function boundary(buf: Buffer, from: number, ino: number, orEqual: boolean): number {
  let lo = from / STAT_RECORD;
  let hi = buf.length / STAT_RECORD;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const x = buf.readDoubleLE(mid * STAT_RECORD);
    if (x < ino || (x === ino && !orEqual)) lo = mid + 1;
    else hi = mid;
  }
  return lo * STAT_RECORD;
}

/**
 * Two buffers of records sorted by inode (one per inode) as one; on a shared inode `first` wins.
 * Whole runs are copied, found by binary search: a few fresh records merged into a large cache
 * cost a few block copies, not one per record.
 */
export function mergeSorted(first: Buffer, second: Buffer): Buffer {
  const out = Buffer.from(new SharedArrayBuffer(first.length + second.length));
  let a = 0;
  let b = 0;
  let w = 0;
  while (a < first.length && b < second.length) {
    const ib = second.readDoubleLE(b);
    const e = boundary(first, a, ib, false);
    w += first.copy(out, w, a, e);
    if (e > a && first.readDoubleLE(e - STAT_RECORD) === ib) b += STAT_RECORD;
    a = e;
    if (a < first.length) {
      const f = boundary(second, b, first.readDoubleLE(a), true);
      w += second.copy(out, w, b, f);
      b = f;
    }
  }
  w += first.copy(out, w, a);
  w += second.copy(out, w, b);
  return out.subarray(0, w);
}

/**
 * Writes the records of one scan, dropping racy ones: the cache's records that the scan used
 * (`used`, one flag per record; still in inode order) and the records of the files it read.
 */
export function saveStatCache(cacheDir: string, cache: StatCache, used: Uint8Array, read: readonly Buffer[], scanStartMs: number): void {
  const limit = scanStartMs - RACY_MS;
  const settled = (buf: Buffer, at: number) => buf.readDoubleLE(at + 16) < limit && buf.readDoubleLE(at + 24) < limit;
  const records = mergeSorted(cache.keep(used, limit), sortRecords(read, settled));
  ensureDir(cacheDir);
  atomicWriteFile(join(cacheDir, FILE), Buffer.concat([MAGIC, records]), { durable: false });
}
