import { createHash } from 'node:crypto';
import { comparePaths, parentDirs, pathProblem } from './paths.js';

export const MANIFEST_FORMAT = 'snapgov-manifest/1';

export type FileMode = '0644' | '0755';

export interface FileEntry {
  path: string;
  type: 'file';
  mode: FileMode;
  size: number;
  sha256: string;
}

export interface SymlinkEntry {
  path: string;
  type: 'symlink';
  target: string;
}

export type Entry = FileEntry | SymlinkEntry;

export interface Manifest {
  entries: Entry[];
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Git's view of permissions: only the owner-executable bit is content, so umask differences do not change an ID. */
export function modeFromStat(mode: number): FileMode {
  return mode & 0o100 ? '0755' : '0644';
}

const SURROGATE = /[\uD800-\uDFFF]/;

export function sortEntries(entries: Entry[]): Entry[] {
  // Without surrogate pairs, UTF-16 order is code point order and plain comparison is enough.
  if (!entries.some((e) => SURROGATE.test(e.path))) return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return entries.sort((a, b) => comparePaths(a.path, b.path));
}

function entryLine(e: Entry): string {
  const p = JSON.stringify(e.path);
  if (e.type === 'file') {
    return `{"path":${p},"type":"file","mode":"${e.mode}","size":${e.size},"sha256":"${e.sha256}"}`;
  }
  return `{"path":${p},"type":"symlink","target":${JSON.stringify(e.target)}}`;
}

/**
 * The canonical bytes: fixed key order, one entry per line, entries sorted by path (code point
 * order), a trailing newline. Exactly one byte sequence per tree, so the same tree has the same ID
 * and `sha256sum` of the manifest file equals the ID.
 */
export function serializeManifest(entries: readonly Entry[]): Buffer {
  const lines = [`{"format":"${MANIFEST_FORMAT}","entries":[`];
  for (let i = 0; i < entries.length; i++) {
    lines.push(entryLine(entries[i]!) + (i + 1 < entries.length ? ',' : ''));
  }
  lines.push(']}');
  return Buffer.from(lines.join('\n') + '\n', 'utf8');
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function snapshotIdOf(bytes: Buffer): string {
  return `sha256:${sha256Hex(bytes)}`;
}

export class ManifestError extends Error {
  constructor(
    message: string,
    readonly path?: string,
  ) {
    super(message);
  }
}

function checkEntry(raw: unknown, index: number): Entry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ManifestError(`entry ${index} is not an object`);
  const o = raw as Record<string, unknown>;
  const path = o.path;
  if (typeof path !== 'string') throw new ManifestError(`entry ${index} has no path`);
  const bad = pathProblem(path);
  if (bad) throw new ManifestError(`unsafe path ${JSON.stringify(path)}: ${bad}`, path);
  if (o.type === 'file') {
    if (o.mode !== '0644' && o.mode !== '0755') throw new ManifestError(`bad mode for ${path}`, path);
    if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) throw new ManifestError(`bad size for ${path}`, path);
    if (typeof o.sha256 !== 'string' || !HEX64.test(o.sha256)) throw new ManifestError(`bad sha256 for ${path}`, path);
    return { path, type: 'file', mode: o.mode, size: o.size, sha256: o.sha256 };
  }
  if (o.type === 'symlink') {
    const t = o.target;
    if (typeof t !== 'string' || t.length === 0 || t.includes('\0') || t.length > 4096) throw new ManifestError(`bad symlink target for ${path}`, path);
    return { path, type: 'symlink', target: t };
  }
  throw new ManifestError(`entry ${JSON.stringify(path)} has unknown type ${JSON.stringify(o.type)}`, path);
}

/**
 * Parses manifest bytes and proves they are canonical: safe paths, sorted, unique, no entry below
 * another entry, and re-serialization gives the same bytes. Throws ManifestError otherwise.
 */
export function parseManifest(bytes: Buffer): Manifest {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new ManifestError(`not JSON: ${(e as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || (doc as { format?: unknown }).format !== MANIFEST_FORMAT) {
    throw new ManifestError(`not a ${MANIFEST_FORMAT} document`);
  }
  const rawEntries = (doc as { entries?: unknown }).entries;
  if (!Array.isArray(rawEntries)) throw new ManifestError('entries is not an array');
  const entries = rawEntries.map(checkEntry);
  const seen = new Set<string>();
  for (let i = 0; i < entries.length; i++) {
    const p = entries[i]!.path;
    if (i > 0) {
      const c = comparePaths(entries[i - 1]!.path, p);
      if (c === 0) throw new ManifestError(`duplicate path ${JSON.stringify(p)}`, p);
      if (c > 0) throw new ManifestError(`entries not sorted at ${JSON.stringify(p)}`, p);
    }
    seen.add(p);
  }
  for (const e of entries) {
    for (const d of parentDirs(e.path)) {
      if (seen.has(d)) throw new ManifestError(`${JSON.stringify(e.path)} lies below the non-directory entry ${JSON.stringify(d)}`, e.path);
    }
  }
  if (!serializeManifest(entries).equals(bytes)) throw new ManifestError('manifest bytes are not canonical');
  return { entries };
}
