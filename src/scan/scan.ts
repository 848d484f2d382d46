import { readdirSync, readlinkSync, type Dirent, type Stats } from 'node:fs';
import * as fsAll from 'node:fs';
import { join } from 'node:path';
import fg from 'fast-glob';
import { CONFIG_FILE, storeDirsInside, type Workspace } from '../config/config.js';
import { modeFromStat, sortEntries, type Entry, type FileEntry } from '../core/manifest.js';
import { pathProblem } from '../core/paths.js';
import { cacheHit, loadStatCache, saveStatCache, type CachedFile } from '../store/stat-cache.js';
import type { ObjectIndex, StagedObjects } from '../store/objects.js';
import type { StoreLayout } from '../store/layout.js';
import { describeErr, statOf, type FileTask } from './hasher.js';
import { hashFiles } from './pool.js';

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
  /** Stage new content in the store while reading (create); false for read-only comparisons. */
  stage: boolean;
  objects: ObjectIndex;
  layout: StoreLayout;
}

interface Walked {
  rel: string;
  stats: Stats;
}

/**
 * Lists the managed tree with fast-glob: never follows symlinks, never enters the store folders,
 * and records folders it cannot read instead of silently leaving them out.
 */
export function walkTree(ws: Workspace): { walked: Walked[]; unreadable: Skipped[] } {
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
    stats: true,
    ignore,
    fs: fsAdapter,
  });
  const walked: Walked[] = [];
  for (const e of found) {
    if (e.stats!.isDirectory()) continue;
    walked.push({ rel: e.path, stats: e.stats! });
  }
  return { walked, unreadable };
}

export async function scanTree(ws: Workspace, opts: ScanOptions): Promise<ScanResult> {
  const scanStart = Date.now();
  const { walked, unreadable } = walkTree(ws);
  const cache = loadStatCache(opts.layout.cache);
  const entries: Entry[] = [];
  const skipped: Skipped[] = [...unreadable];
  const tasks: FileTask[] = [];
  const sizes = new Map<string, number>();
  const nextCache = new Map<string, CachedFile>();
  let bytes = 0;

  for (const w of walked) {
    const bad = pathProblem(w.rel);
    if (bad) {
      skipped.push({ path: w.rel, reason: `unsupported file name: ${bad}` });
      continue;
    }
    const st = w.stats;
    if (st.isSymbolicLink()) {
      try {
        entries.push({ path: w.rel, type: 'symlink', target: readlinkSync(join(ws.root, w.rel)) });
      } catch (e) {
        skipped.push({ path: w.rel, reason: describeErr(e) });
      }
      continue;
    }
    if (!st.isFile()) {
      skipped.push({ path: w.rel, reason: 'not a regular file or symlink (socket, FIFO or device)' });
      continue;
    }
    const fst = statOf(st);
    const c = cache.get(w.rel);
    // A cached hash is only trusted while the store still holds that object (a prune may have removed it).
    if (cacheHit(c, fst) && (!opts.stage || opts.objects.has(c.sha256))) {
      entries.push({ path: w.rel, type: 'file', mode: modeFromStat(st.mode), size: st.size, sha256: c.sha256 });
      nextCache.set(w.rel, c);
      bytes += st.size;
      continue;
    }
    tasks.push({ rel: w.rel, abs: join(ws.root, w.rel) });
    sizes.set(w.rel, st.size);
  }

  const staged = await hashFiles(tasks, sizes, { layout: opts.layout, known: opts.stage ? opts.objects.knownHashes() : new SharedArrayBuffer(0), stage: opts.stage }, (r) => {
    if (!r.ok) {
      skipped.push({ path: r.rel, reason: r.reason });
      return;
    }
    const e: FileEntry = { path: r.rel, type: 'file', mode: modeFromStat(r.stat.mode), size: r.stat.size, sha256: r.sha256 };
    entries.push(e);
    nextCache.set(r.rel, { ...r.stat, sha256: r.sha256 });
    bytes += r.stat.size;
  });

  try {
    saveStatCache(opts.layout.cache, nextCache, scanStart);
  } catch {
    // Only a cache: a read-only or full store must not fail the scan over it.
  }
  sortEntries(entries);
  skipped.sort((a, b) => (a.path < b.path ? -1 : 1));
  return { entries, staged, skipped, files: entries.length, bytes, read: tasks.length };
}
