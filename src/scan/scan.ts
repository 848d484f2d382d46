import { readdirSync, type Dirent } from 'node:fs';
import * as fsAll from 'node:fs';
import fg from 'fast-glob';
import { CONFIG_FILE, storeDirsInside, type Workspace } from '../config/config.js';
import { modeFromStat, sortEntries, type Entry } from '../core/manifest.js';
import { pathProblem } from '../core/paths.js';
import { StatCache, saveStatCache, STAT_RECORD, HASH_AT } from '../store/stat-cache.js';
import type { ObjectIndex, StagedObjects } from '../store/objects.js';
import type { StoreLayout } from '../store/layout.js';
import { describeErr, KIND_FILE, KIND_SYMLINK } from './scanner.js';
import { scanPaths } from './pool.js';

export interface Skipped {
  path: string;
  reason: string;
}

export interface ScanResult {
  entries: Entry[];
  staged: StagedObjects;
  skipped: Skipped[];
  files: number;
  bytes: number;
  /** Files actually read (stat-cache misses). */
  read: number;
}

export interface ScanOptions {
  /** Stage new content in the store while reading (create); null for read-only comparisons. */
  objects: ObjectIndex | null;
  layout: StoreLayout;
}

/**
 * Lists the managed paths with fast-glob: never follows symlinks, never enters the store folders,
 * and records folders it cannot read instead of silently leaving them out. No stat here: the
 * scanner threads stat each path in parallel.
 */
export function walkTree(ws: Workspace): { paths: string[]; unreadable: Skipped[] } {
  const unreadable: Skipped[] = [];
  const ignore = [...ws.config.exclude, CONFIG_FILE];
  for (const d of storeDirsInside(ws)) ignore.push(d, `${d}/**`);
  const fsAdapter = {
    ...fsAll,
    readdirSync: ((path: string, opts: { withFileTypes: true }) => {
      try {
        return readdirSync(path, opts);
      } catch (e) {
        const rel = path.startsWith(ws.root) ? path.slice(ws.root.length + 1) : path;
        unreadable.push({ path: `${rel}/`, reason: `folder cannot be read: ${describeErr(e)}` });
        return [] as Dirent[];
      }
    }) as typeof readdirSync,
  };
  const found = fg.sync(ws.config.include, {
    cwd: ws.root,
    dot: true,
    onlyFiles: false,
    followSymbolicLinks: false,
    objectMode: true,
    unique: ws.config.include.length > 1,
    ignore,
    fs: fsAdapter,
  });
  const paths: string[] = [];
  for (const e of found) if (!e.dirent.isDirectory()) paths.push(e.path);
  return { paths, unreadable };
}

export async function scanTree(ws: Workspace, opts: ScanOptions): Promise<ScanResult> {
  const scanStart = Date.now();
  const { paths: walked, unreadable } = walkTree(ws);
  const skipped: Skipped[] = [...unreadable];
  const paths: string[] = [];
  for (const p of walked) {
    const bad = pathProblem(p);
    if (bad) skipped.push({ path: p, reason: `unsupported file name: ${bad}` });
    else paths.push(p);
  }
  const cache = StatCache.load(opts.layout.cache);
  const { batches, batchSize, staged } = await scanPaths(paths, { root: ws.root, layout: opts.layout, known: opts.objects ? opts.objects.shared() : null, cache: cache.share() });

  const entries: Entry[] = [];
  let bytes = 0;
  let read = 0;
  batches.forEach((b, n) => {
    read += b.read;
    let rec = 0;
    for (let i = 0; i < b.kinds.length; i++) {
      const path = paths[n * batchSize + i]!;
      const kind = b.kinds[i];
      if (kind === KIND_FILE) {
        const at = rec++ * STAT_RECORD;
        const size = b.records.readDoubleLE(at + 8);
        entries.push({ path, type: 'file', mode: modeFromStat(b.records.readUInt32LE(at + 32)), size, sha256: b.records.toString('hex', at + HASH_AT, at + HASH_AT + 32) });
        bytes += size;
      } else if (kind === KIND_SYMLINK) {
        entries.push({ path, type: 'symlink', target: b.targets[i]! });
      } else {
        skipped.push({ path, reason: b.errors[i] ?? 'unknown error' });
      }
    }
  });
  try {
    saveStatCache(opts.layout.cache, batches.map((b) => b.records), scanStart);
  } catch {
    // Only a cache: a read-only or full store must not fail the scan over it.
  }
  sortEntries(entries);
  skipped.sort((a, b) => (a.path < b.path ? -1 : 1));
  return { entries, staged, skipped, files: entries.length, bytes, read };
}
