import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FileStat } from '../scan/hasher.js';
import { atomicWriteFile, ensureDir } from '../util/fsx.js';

export interface CachedFile extends FileStat {
  sha256: string;
}

/**
 * Remembers the hash of each file by (size, mtime, ctime, inode, mode) so an unchanged file is not
 * read again (git's index, borg's files cache). Format: one record per file, NUL-terminated:
 * `sha256 size mtimeMs ctimeMs ino mode path`. It is only a cache: any damage makes it empty.
 */
const FILE = 'stat-cache';
/** Files touched this close to the scan are re-hashed next time: their timestamp cannot prove they did not change again. */
const RACY_MS = 2000;

export function loadStatCache(cacheDir: string): Map<string, CachedFile> {
  const map = new Map<string, CachedFile>();
  let text: string;
  try {
    text = readFileSync(join(cacheDir, FILE), 'utf8');
  } catch {
    return map;
  }
  for (const rec of text.split('\0')) {
    if (!rec) continue;
    const f = rec.split(' ', 6);
    if (f.length < 6) return new Map();
    const head = f.join(' ').length + 1;
    const [sha256, size, mtimeMs, ctimeMs, ino, mode] = f as [string, string, string, string, string, string];
    const entry: CachedFile = { sha256, size: Number(size), mtimeMs: Number(mtimeMs), ctimeMs: Number(ctimeMs), ino: Number(ino), mode: Number(mode) };
    if (!/^[0-9a-f]{64}$/.test(sha256) || Object.values(entry).some((v) => typeof v === 'number' && !Number.isFinite(v))) return new Map();
    map.set(rec.slice(head), entry);
  }
  return map;
}

export function cacheHit(c: CachedFile | undefined, st: FileStat): c is CachedFile {
  return c !== undefined && c.size === st.size && c.mtimeMs === st.mtimeMs && c.ctimeMs === st.ctimeMs && c.ino === st.ino && c.mode === st.mode;
}

export function saveStatCache(cacheDir: string, files: Iterable<[string, CachedFile]>, scanStartMs: number): void {
  const parts: string[] = [];
  const limit = scanStartMs - RACY_MS;
  for (const [path, c] of files) {
    if (c.mtimeMs >= limit || c.ctimeMs >= limit) continue;
    parts.push(`${c.sha256} ${c.size} ${c.mtimeMs} ${c.ctimeMs} ${c.ino} ${c.mode} ${path}\0`);
  }
  ensureDir(cacheDir);
  atomicWriteFile(join(cacheDir, FILE), parts.join(''), { durable: false });
}
