import { isAscii } from 'node:buffer';
import { createHash } from 'node:crypto';
import { comparePaths, pathProblem, unitOrder } from './paths.js';

export const MANIFEST_FORMAT = 'snapgov-manifest/1';

const HEADER = `{"format":"${MANIFEST_FORMAT}","entries":[`;

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

/**
 * A file size read from a float64 (a typed array, a buffer), as V8 keeps small integers. All file
 * entries share one hidden class, and one entry whose `size` is a boxed double turns the field
 * into a double field for every entry: each existing one is migrated when next touched and the
 * optimized code that relied on the class is dropped (10,000 migrations in a rollback of the
 * 10,000-file bench tree). Sizes of 1 GiB and more stay doubles.
 */
export function entrySize(n: number): number {
  return n < 0x4000_0000 ? n | 0 : n;
}

/** What JSON.stringify escapes in a string: quotes, backslashes, control characters, lone surrogates. */
const NEEDS_ESCAPE = /[\\"\u0000-\u001f\uD800-\uDFFF]/;

function entryLine(e: Entry): string {
  const p = NEEDS_ESCAPE.test(e.path) ? JSON.stringify(e.path) : `"${e.path}"`;
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
  // Encoded a few thousand lines at a time into one buffer: all lines as strings, then joined,
  // then encoded would hold the manifest three times over (some 450 MB more at a million files).
  // The buffer is sized from the paths (grown if names need escaping or multi-byte UTF-8).
  let estimate = HEADER.length + 8;
  for (const e of entries) estimate += LINE_BYTES + e.path.length + (e.type === 'symlink' ? e.target.length : 0);
  let buf = Buffer.allocUnsafe(estimate);
  let at = buf.write(`${HEADER}\n`, 0, 'latin1');
  const put = (text: string) => {
    const need = Buffer.byteLength(text, 'utf8');
    if (at + need > buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(buf.length * 2, at + need));
      buf.copy(grown, 0, 0, at);
      buf = grown;
    }
    at += buf.write(text, at, 'utf8');
  };
  for (let i = 0; i < entries.length; i += SERIALIZE_CHUNK) {
    const last = i + SERIALIZE_CHUNK >= entries.length;
    put(`${entries.slice(i, i + SERIALIZE_CHUNK).map(entryLine).join(',\n')}${last ? '\n' : ',\n'}`);
  }
  put(']}\n');
  return buf.subarray(0, at);
}

/** A file line's bytes besides its path, with room for the largest size (16 digits) and the line break. */
const LINE_BYTES = '{"path":"","type":"file","mode":"0644","size":0000000000000000,"sha256":""},\n'.length + 64;
const SERIALIZE_CHUNK = 4096;

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

const FILE_LINE = /^\{"path":("(?:[^"\\]|\\.)*"),"type":"file","mode":"(0644|0755)","size":(0|[1-9]\d{0,15}),"sha256":"([0-9a-f]{64})"\}$/;
const LINK_LINE = /^\{"path":("(?:[^"\\]|\\.)*"),"type":"symlink","target":("(?:[^"\\]|\\.)*")\}$/;
const NEEDS_JSON = /[\\\u0000-\u001f]/;

/** A JSON string literal's value, or null unless the literal is exactly how JSON.stringify writes it. */
function literal(lit: string): string | null {
  if (!NEEDS_JSON.test(lit)) return lit.slice(1, -1);
  try {
    const v = JSON.parse(lit) as string;
    return JSON.stringify(v) === lit ? v : null;
  } catch {
    return null;
  }
}

/** A file whose name needs no escaping: the literal is the path itself. */
const PLAIN_FILE_LINE = /^\{"path":"([^"\\\u0000-\u001f]*)","type":"file","mode":"(0644|0755)","size":(0|[1-9]\d{0,15}),"sha256":"([0-9a-f]{64})"\}$/;

/** The common case, without a JSON parse per line: a canonical line matched by shape. */
function fastEntry(line: string): Entry | null {
  const f = PLAIN_FILE_LINE.exec(line) ?? FILE_LINE.exec(line);
  if (f) {
    const path = f[1]!.charCodeAt(0) === 0x22 ? literal(f[1]!) : f[1]!;
    const size = Number(f[3]);
    if (path === null || !Number.isSafeInteger(size)) return null;
    const bad = pathProblem(path);
    if (bad) throw new ManifestError(`unsafe path ${JSON.stringify(path)}: ${bad}`, path);
    return { path, type: 'file', mode: f[2] as FileMode, size, sha256: f[4]! };
  }
  const l = LINK_LINE.exec(line);
  if (!l) return null;
  const path = literal(l[1]!);
  const target = literal(l[2]!);
  if (path === null || target === null) return null;
  return checkEntry({ path, type: 'symlink', target }, 0);
}

/** Anything else: parse it for a precise error; if it parses fine it was not canonical. */
function slowEntry(line: string, i: number): Entry {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (e) {
    throw new ManifestError(`line ${i + 1} is not JSON: ${(e as Error).message}`);
  }
  const e = checkEntry(raw, i - 1);
  throw new ManifestError(`manifest bytes are not canonical (line ${i + 1})`, e.path);
}

/**
 * The bytes, line positions and entries of the manifest parsed last, so that the next one of the
 * same run (mostly the same tree) reuses the entries of identical lines instead of parsing them
 * again. Both manifests are sorted, so one cursor walking the previous lines finds the identical
 * ones, and lines are compared as bytes: a reused line costs no string at all.
 */
export class ManifestMemo {
  bytes: Buffer = Buffer.alloc(0);
  starts: number[] = [];
  ends: number[] = [];
  entries: Entry[] = [];
}

const HEADER_BYTES = Buffer.from(HEADER);
const ENDING = Buffer.from('\n]}\n');
/** Manifest lines are decoded in chunks of about this many bytes. */
const CHUNK = 1 << 20;
/** At most this many lines equal to the previous manifest's are compared at once. */
const RUN = 64;

/** The end of the chunk of whole lines that starts at `start` (every line ends with a newline before `end`). */
function chunkAfter(bytes: Buffer, start: number, end: number): number {
  if (end - start <= CHUNK) return end;
  const k = bytes.lastIndexOf(0x0a, start + CHUNK - 1);
  return k >= start ? k + 1 : bytes.indexOf(0x0a, start) + 1;
}

/**
 * Parses manifest bytes and proves they are canonical: safe paths, sorted, unique, no entry below
 * another entry, and each line exactly as serializeManifest would write it. Works line by line on
 * the bytes (only lines that are parsed become strings), so a manifest of a million entries never
 * becomes one giant parse. With a `memo`, a line equal to one of the previous manifest's gets that
 * line's (already checked) entry: entries are shared between snapshots, and the order checks
 * still run on every line. Throws ManifestError.
 */
export function parseManifest(bytes: Buffer, memo?: ManifestMemo): Manifest {
  let nl = bytes.indexOf(0x0a);
  if (nl !== HEADER_BYTES.length || bytes.compare(HEADER_BYTES, 0, HEADER_BYTES.length, 0, nl) !== 0) {
    const header = bytes.toString('utf8', 0, nl === -1 ? bytes.length : nl);
    if (!header.startsWith('{')) throw new ManifestError('not JSON');
    if (header.includes(`"${MANIFEST_FORMAT}"`)) throw new ManifestError('manifest bytes are not canonical (header)');
    throw new ManifestError(`not a ${MANIFEST_FORMAT} document`);
  }
  const n = bytes.length;
  if (n < HEADER_BYTES.length + ENDING.length || bytes.compare(ENDING, 0, ENDING.length, n - ENDING.length, n) !== 0) throw new ManifestError('manifest bytes are not canonical (bad ending)');
  // Without 4-byte UTF-8 sequences there are no surrogate pairs, and plain string order is code point order.
  const astral = [0xf0, 0xf1, 0xf2, 0xf3, 0xf4].some((b) => bytes.includes(b));
  const order = astral ? comparePaths : unitOrder;
  const end = n - 3; // start of the "]}" line
  const entries: Entry[] = [];
  // Earlier paths that are string prefixes of the current one. In sorted order the paths sharing a
  // prefix form one contiguous run, so a path that stops being a prefix never becomes one again.
  const open: string[] = [];
  const prev = memo ?? new ManifestMemo();
  const starts: number[] = [];
  const ends: number[] = [];
  const same = (k: number, from: number, to: number) => prev.ends[k]! - prev.starts[k]! === to - from && bytes.compare(prev.bytes, prev.starts[k], prev.ends[k], from, to) === 0;
  let j = 0;
  let start = nl + 1;
  // Without lines to reuse, ASCII chunks are decoded whole and split as strings: one native call
  // per chunk instead of two per line. With them (a reused line never becomes a string), or in a
  // chunk with other bytes, lines are found and decoded one by one in the buffer.
  const decodeChunks = prev.entries.length === 0;
  let text: string | null = null;
  let base = 0;
  let chunkEnd = decodeChunks ? start : Infinity;
  // Every entry, reused or parsed, is checked against its neighbours: sorted, unique, and none
  // below a non-directory entry.
  const accept = (e: Entry) => {
    const last = entries[entries.length - 1];
    if (last) {
      const c = order(last.path, e.path);
      if (c === 0) throw new ManifestError(`duplicate path ${JSON.stringify(e.path)}`, e.path);
      if (c > 0) throw new ManifestError(`entries not sorted at ${JSON.stringify(e.path)}`, e.path);
    }
    while (open.length > 0 && !e.path.startsWith(open[open.length - 1]!)) open.pop();
    for (const d of open) {
      if (e.path.charCodeAt(d.length) === 0x2f) throw new ManifestError(`${JSON.stringify(e.path)} lies below the non-directory entry ${JSON.stringify(d)}`, e.path);
    }
    open.push(e.path);
    entries.push(e);
  };
  // How many lines from `from` on equal the previous manifest's from its line j on, each with its
  // ",\n" (so never the previous manifest's last line): up to RUN lines, found by halving.
  const identicalRun = (from: number): number => {
    for (let k = Math.min(RUN, prev.entries.length - 1 - j); k > 0; k >>= 1) {
      const ps = prev.starts[j]!;
      const len = prev.ends[j + k - 1]! + 2 - ps;
      if (from + len <= end && bytes.compare(prev.bytes, ps, ps + len, from, from + len) === 0) return k;
    }
    return 0;
  };
  for (let i = 1; start < end; i++) {
    // A run of lines equal to the previous manifest's costs one comparison: their positions come
    // from the memo, their entries are the previous ones. (Only with a memo: a fresh one is empty.)
    const run = j < prev.entries.length - 1 ? identicalRun(start) : 0;
    if (run > 0) {
      const shift = start - prev.starts[j]!;
      for (const stopAt = j + run; j < stopAt; j++) {
        starts.push(prev.starts[j]! + shift);
        ends.push(prev.ends[j]! + shift);
        accept(prev.entries[j]!);
      }
      start = ends[ends.length - 1]! + 2;
      i += run - 1;
      continue;
    }
    if (start >= chunkEnd) {
      chunkEnd = chunkAfter(bytes, start, end);
      text = isAscii(bytes.subarray(start, chunkEnd)) ? bytes.toString('latin1', start, chunkEnd) : null;
      base = start;
    }
    nl = text !== null ? base + text.indexOf('\n', start - base) : bytes.indexOf(0x0a, start);
    const lastLine = nl + 1 >= end;
    const stop = lastLine ? nl : nl - 1;
    if (!lastLine && (text !== null ? text.charCodeAt(nl - 1 - base) : bytes[nl - 1]) !== 0x2c) throw new ManifestError(`manifest bytes are not canonical (line ${i + 1})`);
    let e: Entry;
    if (j < prev.entries.length && same(j, start, stop)) e = prev.entries[j++]!;
    else {
      const body = text !== null ? text.slice(start - base, stop - base) : bytes.toString('utf8', start, stop);
      e = fastEntry(body) ?? slowEntry(body, i);
      // Skip the previous lines that sort before this one (removed since).
      while (j < prev.entries.length && order(prev.entries[j]!.path, e.path) < 0) j++;
      if (j < prev.entries.length && prev.entries[j]!.path === e.path) {
        // After a removal the cursor lagged: an identical line further on still shares its entry.
        if (same(j, start, stop)) e = prev.entries[j]!;
        j++;
      }
    }
    if (memo) {
      starts.push(start);
      ends.push(stop);
    }
    start = nl + 1;
    accept(e);
  }
  if (memo) Object.assign(memo, { bytes, starts, ends, entries });
  return { entries };
}
