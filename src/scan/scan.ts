import type { Workspace } from '../config/config.js';
import { entrySize, modeFromStat, type Entry } from '../core/manifest.js';
import { mergeSorted, StatCache, saveStatCache, sortRecords, STAT_RECORD, HASH_AT } from '../store/stat-cache.js';
import type { ObjectIndex, StagedObjects } from '../store/objects.js';
import type { StoreLayout } from '../store/layout.js';
import { KIND_FILE, type ScanBatch } from '../files/scanner.js';
import { walkTree, type Skipped } from './walk.js';
import { asBuffer, makeScanner, WorkerPool, type WorkerInit, type WorkerReply } from '../pool/pool.js';
import { STAT_HIT, STAT_LINK, STAT_MISS, statPaths, type StatPass } from '../files/stat-pass.js';
import { HashTable } from '../store/hash-table.js';

export type { Skipped };

export interface ScanResult {
  entries: Entry[];
  staged: StagedObjects;
  skipped: Skipped[];
  files: number;
  bytes: number;
}

export interface ScanOptions {
  /** Stage new content in the store while reading (create); null for read-only comparisons. */
  objects: ObjectIndex | null;
  layout: StoreLayout;
  /** Stat records of files this process has just written with known content (rollback), trusted for this scan only. */
  written?: Buffer[];
  /** Read and hash every file, trusting no cached hash (the rehearsal's byte-for-byte check). */
  noCache?: boolean;
}

/** A batch of changed files goes to a thread once it holds this many files or bytes. */
const BATCH_FILES = 256;
const BATCH_BYTES = 16 << 20;
/** From this many paths on, the stat pass is shared with a thread (starting one costs about 50 ms). */
const SPLIT_STAT_MIN = 20_000;

/**
 * Scans the managed tree. The main thread (with a worker thread for a large tree) stats every path
 * and answers unchanged files from the stat cache; changed files go, in batches, to worker threads
 * that read, hash and stage them while the stat pass goes on. A small tree starts threads only once
 * a full batch of changed files exists, so it never pays for them unchanged; a few changed files
 * are hashed inline.
 */
export async function scanTree(ws: Workspace, opts: ScanOptions): Promise<ScanResult> {
  const scanStart = Date.now();
  const { paths, unreadable } = walkTree(ws);
  const skipped: Skipped[] = [...unreadable];
  // By position in `paths`, which the walk lists in manifest order: no sort afterwards. A path
  // that is skipped leaves a hole.
  const entries: (Entry | undefined)[] = new Array<Entry | undefined>(paths.length);
  const loaded = opts.noCache ? StatCache.empty() : StatCache.load(opts.layout.cache);
  const cache = opts.written?.length ? new StatCache(mergeSorted(sortRecords(opts.written), loaded.records)) : loaded;
  const init: WorkerInit = { root: ws.root, layout: opts.layout, known: opts.objects ? opts.objects.shared() : null };
  const known = init.known ? HashTable.fromShared(init.known) : null;
  /** Which cache records this scan used (the cache saved afterwards keeps those). */
  const used = new Uint8Array(cache.n);
  let nHits = 0;
  let bytes = 0;
  let read = 0;
  let pool: WorkerPool | null = null;
  const replies: Promise<void>[] = [];
  const missRecords: Buffer[] = [];
  let batch: string[] = [];
  let batchAt: number[] = [];
  let batchBytes = 0;

  const addHashed = (rels: readonly string[], at: readonly number[], r: ScanBatch) => {
    const records = asBuffer(r.records);
    missRecords.push(records);
    let rec = 0;
    for (let i = 0; i < rels.length; i++) {
      if (r.kinds[i] === KIND_FILE) {
        const r0 = rec++ * STAT_RECORD;
        const size = entrySize(records.readDoubleLE(r0 + 8));
        entries[at[i]!] = { path: rels[i]!, type: 'file', mode: modeFromStat(records.readUInt32LE(r0 + 32)), size, sha256: records.toString('hex', r0 + HASH_AT, r0 + HASH_AT + 32) };
        bytes += size;
      } else {
        skipped.push({ path: rels[i]!, reason: r.errors[i] ?? 'unknown error' });
      }
    }
  };
  const flush = () => {
    const rels = batch;
    const at = batchAt;
    batch = [];
    batchAt = [];
    batchBytes = 0;
    read += rels.length;
    pool ??= new WorkerPool(init);
    replies.push(pool.request({ type: 'hash', rels }).then((r) => (r.type === 'hash' ? addHashed(rels, at, r.result) : undefined)));
  };

  const consume = (rels: readonly string[], from: number, p: StatPass) => {
    for (let i = 0; i < p.kinds.length; i++) {
      const rel = rels[from + i]!;
      switch (p.kinds[i]) {
        case STAT_HIT: {
          const hit = p.hitAt[i]!;
          const size = entrySize(p.sizes[i]!);
          used[hit / STAT_RECORD] = 1;
          nHits++;
          entries[from + i] = { path: rel, type: 'file', mode: modeFromStat(p.modes[i]!), size, sha256: cache.records.toString('hex', hit + HASH_AT, hit + HASH_AT + 32) };
          bytes += size;
          break;
        }
        case STAT_MISS:
          batch.push(rel);
          batchAt.push(from + i);
          batchBytes += p.sizes[i]!;
          if (batch.length >= BATCH_FILES || batchBytes >= BATCH_BYTES) flush();
          break;
        case STAT_LINK:
          entries[from + i] = { path: rel, type: 'symlink', target: p.texts[i]! };
          break;
        default:
          skipped.push({ path: rel, reason: p.texts[i]! });
      }
    }
  };

  try {
    // A large tree: a thread stats the second half of the paths while this thread stats the first.
    const mid = paths.length >= SPLIT_STAT_MIN ? paths.length >> 1 : paths.length;
    let rest: Promise<WorkerReply> | null = null;
    if (mid < paths.length) {
      pool = new WorkerPool(init);
      rest = pool.request({ type: 'stat', rels: paths.slice(mid), cache: cache.records });
    }
    consume(paths, 0, statPaths(ws.root, mid < paths.length ? paths.slice(0, mid) : paths, cache, known));
    if (rest) {
      const r = await rest;
      if (r.type === 'stat') consume(paths, mid, r.pass);
    }
  } catch (e) {
    await (pool as WorkerPool | null)?.close(true).catch(() => undefined);
    throw e;
  }

  let staged: StagedObjects;
  if (pool === null) {
    // Few changes: hash them here rather than start threads.
    const { scanner, writer } = makeScanner(init);
    try {
      if (batch.length) addHashed(batch, batchAt, scanner.hashPaths(batch));
      read += batch.length;
    } catch (e) {
      writer?.discard();
      throw e;
    }
    staged = mergeStaged(writer ? [writer.finish()] : []);
  } else {
    if (batch.length) flush();
    const p: WorkerPool = pool;
    const settled = await Promise.allSettled(replies);
    const parts = await p.close(settled.some((s) => s.status === 'rejected'));
    staged = mergeStaged(parts);
  }

  // Every file answered by the cache and every record used: the cache file is already right. A
  // scan that checks files just written (rollback) saves nothing: their records are too recent to
  // keep, and the records of the files they replaced can never match again.
  if (!opts.noCache && !opts.written?.length && (read > 0 || nHits !== cache.n)) {
    try {
      saveStatCache(opts.layout.cache, cache, used, missRecords, scanStart);
    } catch {
      // Only a cache: a read-only or full store must not fail the scan over it.
    }
  }
  skipped.sort((a, b) => (a.path < b.path ? -1 : 1));
  // Always copied: the copy is a packed array, like a parsed manifest's entries, so code walking
  // both (the rollback plan, the verification) sees one kind of array and keeps its optimized code.
  const listed = entries.filter((e) => e !== undefined);
  return { entries: listed, staged, skipped, files: listed.length, bytes };
}

function mergeStaged(parts: StagedObjects[]): StagedObjects {
  const out: StagedObjects = { packs: [], loose: [], newBytes: 0, newObjects: 0 };
  for (const p of parts) {
    out.packs.push(...p.packs);
    out.loose.push(...p.loose);
    out.newBytes += p.newBytes;
    out.newObjects += p.newObjects;
  }
  return out;
}
