import { closeSync, constants, fstatSync, fsyncSync, mkdirSync, openSync, readdirSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { createHash, hash as cryptoHash, randomBytes, type Hash } from 'node:crypto';
import { join } from 'node:path';
import { HashTable, type SharedHashTable } from './hash-table.js';
import { decodePackTrailer, encodePackIndex, packIndexValid, PACK_RECORD, PACK_TRAILER, readU64, type PackEntry } from './pack.js';
import { looseObjectPath, type StoreLayout } from './layout.js';
import { atomicWriteFile, ensureDir, fsyncDir, writeAllSync } from '../util/fsx.js';
import { decodeIndexFile, encodeIndexFile, indexKey, type IndexParts } from './index-file.js';

/** Objects smaller than this go into pack files; larger ones are loose files named by their hash. */
export const LOOSE_MIN = 1 << 20;
/** The saved object index, in the store's cache folder beside the stat cache. */
const INDEX_FILE = 'object-index';
/** A pack is closed once it holds this much data. */
export const PACK_TARGET = 16 << 20;

export interface ObjectLocation {
  /** Pack file name (hash) or null for a loose object. */
  pack: string | null;
  offset: number;
  /** Recorded length for packed objects; -1 for loose objects until stat-ed. */
  size: number;
}

export interface DamagedPack {
  pack: string;
  message: string;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Reads and checks a pack's index from its open file; a message when the pack is damaged. */
export function readPackIndex(fd: number, name: string): { index: Buffer; count: number; dataEnd: number } | string {
  const size = fstatSync(fd).size;
  const trailer = Buffer.alloc(PACK_TRAILER);
  const count = size >= PACK_TRAILER && readSync(fd, trailer, 0, PACK_TRAILER, size - PACK_TRAILER) === PACK_TRAILER ? decodePackTrailer(trailer, size) : null;
  if (count === null) return `pack ${name} has no valid trailer (truncated or not a pack)`;
  const dataEnd = size - PACK_TRAILER - count * PACK_RECORD;
  const index = Buffer.alloc(count * PACK_RECORD);
  readSync(fd, index, 0, index.length, dataEnd);
  if (!packIndexValid(index, count, dataEnd)) return `pack ${name} has an index pointing outside its data`;
  return { index, count, dataEnd };
}

/**
 * Every object in the store, loaded from the pack indexes and the loose object folders into flat
 * typed arrays (see HashTable): no per-object JavaScript objects, so loading 100,000s is cheap.
 */
export class ObjectIndex {
  readonly damagedPacks: DamagedPack[] = [];
  readonly packs: string[] = [];
  private readonly packBytes = new Map<string, number>();
  private table: HashTable = HashTable.create(0);
  /** Per object: pack number (-1 for loose), offset and length inside the pack. */
  private packOf: Int32Array = new Int32Array(0);
  private offsets: Float64Array = new Float64Array(0);
  private sizes: Float64Array = new Float64Array(0);

  constructor(readonly layout: StoreLayout) {}

  /**
   * The store's objects: from the index file the last command saved when the store still holds
   * exactly the packs and loose objects it was made from, else from the pack indexes (and saved
   * for the next command). `fresh` always reads the packs, as `verify` and `gc` do: they report
   * and act on damaged pack indexes, which a saved index would not show.
   */
  static load(layout: StoreLayout, { fresh = false } = {}): ObjectIndex {
    const idx = new ObjectIndex(layout);
    const loose = idx.looseNames();
    const names = idx.packNames();
    const key = indexKey(names, loose);
    if (!fresh && idx.restore(key)) return idx;
    const packs = idx.readPacks(names);
    const total = loose.length + packs.reduce((n, p) => n + p.count, 0);
    idx.table = HashTable.create(total);
    idx.packOf = new Int32Array(total);
    idx.offsets = new Float64Array(total);
    idx.sizes = new Float64Array(total);
    const digest = Buffer.alloc(32);
    // Loose objects first: when a packed copy also exists, the loose one is used.
    for (const name of loose) {
      digest.write(name, 0, 32, 'hex');
      idx.put(digest, 0, -1, 0, -1);
    }
    packs.forEach((p, n) => {
      idx.packs.push(p.pack);
      for (let i = 0; i < p.count; i++) {
        const at = i * PACK_RECORD;
        idx.put(p.index, at, n, readU64(p.index, at + 32), readU64(p.index, at + 40));
      }
    });
    if (idx.damagedPacks.length === 0) idx.save(key);
    return idx;
  }

  private get indexFile(): string {
    return join(this.layout.cache, INDEX_FILE);
  }

  private restore(key: Buffer): boolean {
    let parts: IndexParts | null = null;
    try {
      const fd = openSync(this.indexFile, 'r');
      try {
        // Fresh memory, so that the arrays in the file can be read in place (see index-file.ts).
        const buf = Buffer.alloc(fstatSync(fd).size);
        if (readSync(fd, buf, 0, buf.length, 0) === buf.length) parts = decodeIndexFile(buf, key);
      } finally {
        closeSync(fd);
      }
    } catch {
      return false;
    }
    if (!parts) return false;
    this.packs.push(...parts.packs);
    parts.packs.forEach((pack, i) => this.packBytes.set(pack, parts.packBytes[i]!));
    this.table = HashTable.fromShared({ hashes: parts.hashes.buffer as SharedArrayBuffer, slots: parts.slots.buffer as SharedArrayBuffer, count: parts.count });
    this.packOf = parts.packOf;
    this.offsets = parts.offsets;
    this.sizes = parts.sizes;
    return true;
  }

  /** Saves the index for the next command; only a cache, so a store that cannot take it is fine. */
  private save(key: Buffer): void {
    const shared = this.table.share();
    const parts: IndexParts = {
      packs: this.packs,
      packBytes: this.packs.map((p) => this.packBytes.get(p) ?? 0),
      count: this.table.count,
      hashes: new Uint8Array(shared.hashes),
      slots: new Int32Array(shared.slots),
      packOf: this.packOf,
      offsets: this.offsets,
      sizes: this.sizes,
    };
    try {
      ensureDir(this.layout.cache);
      atomicWriteFile(this.indexFile, encodeIndexFile(key, parts), { durable: false });
    } catch {
      // read-only or full: the next command builds the index again
    }
  }

  private put(buf: Buffer, off: number, pack: number, offset: number, size: number): void {
    const before = this.table.count;
    const i = this.table.add(buf, off);
    if (i < before) return;
    this.packOf[i] = pack;
    this.offsets[i] = offset;
    this.sizes[i] = size;
  }

  /** Bytes of a pack file's data area (for planning reads). */
  packSize(pack: string): number {
    return this.packBytes.get(pack) ?? 0;
  }

  /** The packs in the store (their hashes), in the folder's order. */
  private packNames(): string[] {
    let names: string[];
    try {
      names = readdirSync(this.layout.packs);
    } catch {
      return [];
    }
    return names.filter((name) => name.endsWith('.pack') && HEX64.test(name.slice(0, -5))).map((name) => name.slice(0, -5));
  }

  private readPacks(packs: readonly string[]): { pack: string; index: Buffer; count: number }[] {
    const out: { pack: string; index: Buffer; count: number }[] = [];
    for (const pack of packs) {
      const name = `${pack}.pack`;
      const fd = openSync(join(this.layout.packs, name), 'r');
      try {
        const r = readPackIndex(fd, name);
        if (typeof r === 'string') this.damagedPacks.push({ pack, message: r });
        else {
          out.push({ pack, index: r.index, count: r.count });
          this.packBytes.set(pack, r.dataEnd);
        }
      } finally {
        closeSync(fd);
      }
    }
    return out;
  }

  private looseNames(): string[] {
    const out: string[] = [];
    let fans: string[];
    try {
      fans = readdirSync(this.layout.objects);
    } catch {
      return out;
    }
    for (const fan of fans) {
      if (!/^[0-9a-f]{2}$/.test(fan)) continue;
      for (const name of readdirSync(join(this.layout.objects, fan))) if (HEX64.test(name) && name.startsWith(fan)) out.push(name);
    }
    return out;
  }

  get count(): number {
    return this.table.count;
  }

  private readonly scratch = Buffer.alloc(32);

  /** The object's number in this index, or -1 (also for anything that is not 64 hex digits). */
  indexOf(hash: string): number {
    if (hash.length !== 64 || this.scratch.write(hash, 0, 32, 'hex') !== 32) return -1;
    return this.table.find(this.scratch);
  }

  /** Size of object number i: recorded for packed objects, from the file for loose ones (null when gone). */
  sizeAt(i: number, hash: string): number | null {
    if (this.packOf[i] !== -1) return this.sizes[i]!;
    try {
      return statSync(looseObjectPath(this.layout, hash)).size;
    } catch {
      return null;
    }
  }

  looseHashes(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.table.count; i++) if (this.packOf[i] === -1) out.push(this.table.hexAt(i));
    return out;
  }

  /** The pack file holding object number i, or null when it is loose. */
  packAt(i: number): string | null {
    const p = this.packOf[i]!;
    return p === -1 ? null : this.packs[p]!;
  }

  has(hash: string): boolean {
    return this.indexOf(hash) !== -1;
  }

  get(hash: string): ObjectLocation | undefined {
    const i = this.indexOf(hash);
    if (i === -1) return undefined;
    const p = this.packOf[i]!;
    return { pack: p === -1 ? null : this.packs[p]!, offset: this.offsets[i]!, size: this.sizes[i]! };
  }

  /** Actual size on disk of an object, or null when it is missing. */
  sizeOf(hash: string): number | null {
    const i = this.indexOf(hash);
    return i === -1 ? null : this.sizeAt(i, hash);
  }

  /** The digest table, shared with worker threads so they can skip objects already stored. */
  shared(): SharedHashTable {
    return this.table.share();
  }
}

export interface StagedPack {
  tmp: string;
  hash: string;
  entries: PackEntry[];
}

export interface StagedLoose {
  tmp: string;
  hash: string;
  size: number;
}

export interface StagedObjects {
  packs: StagedPack[];
  loose: StagedLoose[];
  newBytes: number;
  newObjects: number;
}

function openTemp(dir: string, label: string): { fd: number; path: string } {
  const path = join(dir, `${label}-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  // Created read-only: the open descriptor may still write, and the final object is never writable.
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o444);
  return { fd, path };
}

/**
 * Stages new objects in the store's tmp/ folder: small ones appended to pack files, large ones as
 * loose temporary files. Each staged file is fsynced when closed. Nothing becomes visible until
 * commitStaged() renames them into place, so an interrupted writer leaves only temp files.
 */
export class ObjectWriter {
  private pack: { fd: number; path: string; hash: Hash; entries: PackEntry[]; size: number } | null = null;
  private readonly written = new Set<string>();
  /** Large-object temp files begun and not yet ended: discard() removes them too (a write that failed part-way). */
  private readonly openLarge = new Set<{ fd: number; path: string }>();
  readonly staged: StagedObjects = { packs: [], loose: [], newBytes: 0, newObjects: 0 };

  constructor(
    private readonly tmpDir: string,
    private readonly known: (hash: Buffer) => boolean,
  ) {
    mkdirSync(tmpDir, { recursive: true });
  }

  isStored(hashBytes: Buffer, hex: string): boolean {
    return this.written.has(hex) || this.known(hashBytes);
  }

  /** Adds a small object (whole content in memory). Returns true when it was new. */
  addSmall(hashBytes: Buffer, hex: string, data: Buffer): boolean {
    if (this.isStored(hashBytes, hex)) return false;
    if (!this.pack) {
      const t = openTemp(this.tmpDir, 'pack');
      this.pack = { ...t, hash: createHash('sha256'), entries: [], size: 0 };
    }
    const p = this.pack;
    writeAllSync(p.fd, data);
    p.hash.update(data);
    p.entries.push({ hash: hex, offset: p.size, length: data.length });
    p.size += data.length;
    this.written.add(hex);
    this.staged.newBytes += data.length;
    this.staged.newObjects++;
    if (p.size >= PACK_TARGET) this.closePack();
    return true;
  }

  /**
   * Opens (or reopens) a download's staging file under a name of its own, `pull-<digest hex>.part`:
   * kept when the download is cut or the process is interrupted, so the next pull goes on from its
   * end; `gc` removes what no pull came back for. `size` is how much it holds already.
   */
  beginResumable(hex: string): { fd: number; path: string; size: number } {
    const path = join(this.tmpDir, `pull-${hex}.part`);
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_APPEND, 0o600);
    const t = { fd, path, size: fstatSync(fd).size };
    this.openLarge.add(t);
    return t;
  }

  /** Closes a resumable staging file and leaves it in place for the next pull (a cut download). */
  keepResumable(t: { fd: number; path: string }): void {
    this.openLarge.delete(t);
    closeSync(t.fd);
  }

  /** Opens a temporary file for a large object whose hash is not known until it has been read. */
  beginLarge(): { fd: number; path: string } {
    const t = openTemp(this.tmpDir, 'obj');
    this.openLarge.add(t);
    return t;
  }

  /** Keeps the temporary file as a new object, or discards it when the store already has that content. */
  endLarge(t: { fd: number; path: string }, hashBytes: Buffer, hex: string, size: number): boolean {
    this.openLarge.delete(t);
    if (this.isStored(hashBytes, hex)) {
      closeSync(t.fd);
      rmSync(t.path, { force: true });
      return false;
    }
    fsyncSync(t.fd);
    closeSync(t.fd);
    this.staged.loose.push({ tmp: t.path, hash: hex, size });
    this.written.add(hex);
    this.staged.newBytes += size;
    this.staged.newObjects++;
    return true;
  }

  /**
   * Keeps a temporary file begun with beginLarge() as a whole pack: its bytes hash to `hash` and
   * every object in `entries` was checked by the caller (a pack pulled from a registry).
   */
  adoptPack(t: { fd: number; path: string }, hash: string, entries: PackEntry[]): void {
    this.openLarge.delete(t);
    closeSync(t.fd);
    this.staged.packs.push({ tmp: t.path, hash, entries });
    for (const e of entries) {
      this.written.add(e.hash);
      this.staged.newBytes += e.length;
      this.staged.newObjects++;
    }
  }

  abortLarge(t: { fd: number; path: string }): void {
    this.openLarge.delete(t);
    closeSync(t.fd);
    rmSync(t.path, { force: true });
  }

  private closePack(): void {
    const p = this.pack;
    if (!p) return;
    this.pack = null;
    const index = encodePackIndex(p.entries);
    writeAllSync(p.fd, index);
    p.hash.update(index);
    fsyncSync(p.fd);
    closeSync(p.fd);
    this.staged.packs.push({ tmp: p.path, hash: p.hash.digest('hex'), entries: p.entries });
  }

  finish(): StagedObjects {
    this.closePack();
    return this.staged;
  }

  /** Removes everything staged (after a failure or interruption). */
  discard(): void {
    for (const t of [...this.openLarge]) this.abortLarge(t);
    if (this.pack) {
      closeSync(this.pack.fd);
      rmSync(this.pack.path, { force: true });
      this.pack = null;
    }
    for (const f of [...this.staged.packs, ...this.staged.loose]) rmSync(f.tmp, { force: true });
  }
}

export function discardStaged(staged: StagedObjects): void {
  for (const f of [...staged.packs, ...staged.loose]) rmSync(f.tmp, { force: true });
}

/**
 * Makes staged objects part of the store: rename into place, then fsync every folder touched, so
 * the objects are durable before any manifest refers to them (the data itself was fsynced when
 * each temp file was closed).
 */
export function commitStaged(layout: StoreLayout, staged: StagedObjects): void {
  const dirs = new Set<string>();
  if (staged.packs.length > 0) {
    mkdirSync(layout.packs, { recursive: true });
    dirs.add(layout.packs);
  }
  for (const p of staged.packs) {
    renameSync(p.tmp, join(layout.packs, `${p.hash}.pack`));
  }
  for (const o of staged.loose) {
    const dest = looseObjectPath(layout, o.hash);
    const dir = join(layout.objects, o.hash.slice(0, 2));
    if (!dirs.has(dir)) {
      mkdirSync(dir, { recursive: true });
      dirs.add(dir);
    }
    renameSync(o.tmp, dest);
  }
  if (staged.loose.length > 0) dirs.add(layout.objects);
  for (const d of dirs) fsyncDir(d);
}

/**
 * Streams one object's bytes to `onChunk` (synchronously, through a reused buffer) and checks
 * that they hash to its name; throws STORE_CORRUPT-worthy errors as ObjectReadError.
 */
export class ObjectReadError extends Error {
  constructor(
    message: string,
    readonly hash: string,
  ) {
    super(message);
  }
}

const READ_CHUNK = 1 << 20;

/**
 * Reads objects back out of the store, re-hashing each as it is read (a damaged object is never
 * handed on as good). Pack files stay open between objects: a restore reads thousands from each.
 */
export class ObjectReader {
  private readonly buf = Buffer.allocUnsafe(READ_CHUNK);
  private readonly packFds = new Map<string, number>();

  constructor(private readonly layout: StoreLayout) {}

  private open(file: string, hash: string): number {
    try {
      return openSync(file, 'r');
    } catch {
      throw new ObjectReadError(`object ${hash} is missing (${file})`, hash);
    }
  }

  /** Streams an object's bytes to `onChunk`; packed objects are checked before any byte is handed on. */
  read(hash: string, loc: ObjectLocation, onChunk: (chunk: Buffer) => void): number {
    if (loc.pack !== null) {
      let fd = this.packFds.get(loc.pack);
      if (fd === undefined) {
        fd = this.open(join(this.layout.packs, `${loc.pack}.pack`), hash);
        this.packFds.set(loc.pack, fd);
      }
      const data = loc.size <= this.buf.length ? this.buf.subarray(0, loc.size) : Buffer.allocUnsafe(loc.size);
      if (readSync(fd, data, 0, loc.size, loc.offset) !== loc.size) throw new ObjectReadError(`object ${hash} is truncated`, hash);
      if (cryptoHash('sha256', data) !== hash) throw new ObjectReadError(`object ${hash} is corrupt: its content does not match its hash`, hash);
      onChunk(data);
      return loc.size;
    }
    const fd = this.open(looseObjectPath(this.layout, hash), hash);
    try {
      const h = createHash('sha256');
      let pos = 0;
      for (;;) {
        const got = readSync(fd, this.buf, 0, READ_CHUNK, pos);
        if (got === 0) break;
        const chunk = this.buf.subarray(0, got);
        h.update(chunk);
        onChunk(chunk);
        pos += got;
      }
      if (h.digest('hex') !== hash) throw new ObjectReadError(`object ${hash} is corrupt: its content does not match its hash`, hash);
      return pos;
    } finally {
      closeSync(fd);
    }
  }

  close(): void {
    for (const fd of this.packFds.values()) closeSync(fd);
    this.packFds.clear();
  }
}
