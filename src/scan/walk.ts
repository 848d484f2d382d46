import { readdirSync, type Dirent } from 'node:fs';
import * as fsAll from 'node:fs';
import { createRequire } from 'node:module';
import type FastGlob from 'fast-glob';
import type * as FastGlobPatterns from 'fast-glob/out/utils/pattern.js';
import { CONFIG_FILE, storeDirsInside, type Workspace } from '../config/config.js';
import { pathProblem, sortPaths } from '../core/paths.js';
import { describeErr } from '../files/scanner.js';

// fast-glob and its matchers are some 70 modules: loaded only when a pattern needs them.
const require = createRequire(import.meta.url);

export interface Skipped {
  path: string;
  reason: string;
}

export interface Walk {
  paths: string[];
  unreadable: Skipped[];
}

/** fast-glob's matching options for the settings snapgov uses (dot files included, case-sensitive). */
const MATCH = { dot: true, matchBase: false, nobrace: false, nocase: false, noext: false, noglobstar: false, posix: true, strictSlashes: false };

interface Matchers {
  /** Exclusions without glob characters match one path exactly: a set lookup instead of a regular expression. */
  excludeExact: Set<string>;
  // Exclusions such as `**/*.key`: a file name ending (never a folder: such a pattern does not prune).
  excludeSuffix: string[];
  exclude: RegExp[];
  /** Exclusions that keep a folder from being read at all (fast-glob's "affect depth of reading" patterns). */
  pruneExact: Set<string>;
  prune: RegExp[];
}

/** What `**` refuses once `.` and `..` segments are impossible (readdir never returns them): a line break, which its regular expression's `.` does not match. */
const LINE_BREAK = /[\n\r\u2028\u2029]/;

/** A pattern that is a path (no glob syntax at all, no `.`, `..` or empty segments) matches exactly that path. */
const GLOB_SYNTAX = /[*?[\]{}()!+@\\,]/;
const isPlainPath = (x: string) => !GLOB_SYNTAX.test(x) && pathProblem(x) === null;
// `**/*.EXT` (EXT without glob syntax): any file whose name ends with `.EXT`, in any folder.
const SUFFIX_PATTERN = /^\*\*\/\*(\.[^*?[\]{}()!+@\\,/]+)$/;
const endsWithAny = (name: string, suffixes: readonly string[]): boolean => {
  for (const x of suffixes) if (name.endsWith(x)) return true;
  return false;
};

/**
 * The default include (`**`) needs none of fast-glob's per-pattern planning, and a plain
 * `readdirSync` walk is about three times faster than its reader. Exclusions that are paths
 * (`snapgov.json`) or whole folders (`.git/**`) are set lookups — such a folder is not read at
 * all, as fast-glob prunes it. Other exclusions are prepared with fast-glob's own pattern
 * functions (brace expansion, `!` prefixes, which patterns prune a folder), so both walks select
 * the same paths; a differential test holds them to it. Absolute patterns, and any other include,
 * go through fast-glob itself.
 */
function defaultIncludeMatchers(include: readonly string[], ignore: readonly string[]): Matchers | null {
  return isDefaultInclude(include) ? exclusionMatchers(ignore) : null;
}

const isDefaultInclude = (include: readonly string[]) => include.length === 1 && include[0] === '**';

/** The exclusions prepared as fast-glob applies them (null for absolute patterns, left to fast-glob). */
function exclusionMatchers(ignore: readonly string[]): Matchers | null {
  // The default exclusions (`.git/**`, `**/*.sec.asc`, `**/*.key`) need no pattern compiler at all.
  const suffixes = ignore.map((x) => SUFFIX_PATTERN.exec(x)?.[1] ?? null);
  const plain = ignore.filter((_, i) => suffixes[i] === null).map((x) => (isPlainPath(x) ? x : x.endsWith('/**') && isPlainPath(x.slice(0, -3)) ? x.slice(0, -3) : null));
  if (plain.every((x) => x !== null)) {
    const exact = new Set(plain as string[]);
    return { excludeExact: exact, excludeSuffix: suffixes.filter((x) => x !== null), exclude: [], pruneExact: exact, prune: [] };
  }
  const p = require('fast-glob/out/utils/pattern.js') as typeof FastGlobPatterns;
  const negative = p.expandPatternsWithBraceExpansion([...ignore]).map((x) => p.convertToPositivePattern(p.removeDuplicateSlashes(x)));
  if (negative.some((x) => p.isAbsolute(x))) return null;
  const prune = negative.filter((x) => p.isAffectDepthOfReadingPattern(x));
  // A backslash escapes in a pattern, so only patterns without one are their own path.
  const isExact = (x: string) => p.isStaticPattern(x) && !x.includes('\\');
  const exact = (xs: string[]) => new Set(xs.filter(isExact));
  const globs = (xs: string[]) => p.convertPatternsToRe(xs.filter((x) => !isExact(x)), MATCH);
  return { excludeExact: exact(negative), excludeSuffix: [], exclude: globs(negative), pruneExact: exact(prune), prune: globs(prune) };
}

const matchAny = (s: string, res: readonly RegExp[]): boolean => {
  for (const re of res) if (re.test(s)) return true;
  return false;
};

function walkDefault(root: string, m: Matchers): Walk {
  const paths: string[] = [];
  const unreadable: Skipped[] = [];
  // Breadth first, in readdir order, as fast-glob reads; one sort at the end is cheaper than one per folder.
  const dirs: string[] = [''];
  for (let k = 0; k < dirs.length; k++) {
    const rel = dirs[k]!;
    let list: Dirent[];
    try {
      list = readdirSync(rel === '' ? root : `${root}/${rel}`, { withFileTypes: true });
    } catch (e) {
      unreadable.push({ path: `${rel}/`, reason: `folder cannot be read: ${describeErr(e)}` });
      continue;
    }
    for (const d of list) {
      const path = rel === '' ? d.name : `${rel}/${d.name}`;
      // Symlinks are entries, never followed: a Dirent of a link is not a directory.
      if (d.isDirectory()) {
        if (!m.pruneExact.has(path) && !matchAny(path, m.prune)) dirs.push(path);
      } else if (!LINE_BREAK.test(path) && !m.excludeExact.has(path) && !endsWithAny(d.name, m.excludeSuffix) && !matchAny(path, m.exclude)) paths.push(path);
    }
  }
  return { paths, unreadable };
}

function walkWithFastGlob(ws: Workspace, ignore: string[]): Walk {
  const unreadable: Skipped[] = [];
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
  const fg = require('fast-glob') as typeof FastGlob;
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

/**
 * Whether a workspace-relative path is managed, decided as the walk decides: with the default
 * include, by the same prepared matchers (a folder the walk would not enter, then the file's own
 * exclusions); otherwise by fast-glob's regular expressions for the patterns. For a few paths
 * (keygen's output, the paths a rollback would write), not for a whole tree.
 */
export function managedPathTest(ws: Workspace): (rel: string) => boolean {
  const m = exclusionMatchers(ignoreList(ws));
  const p = isDefaultInclude(ws.config.include) ? null : (require('fast-glob/out/utils/pattern.js') as typeof FastGlobPatterns);
  // fast-glob reads `dir/**` from inside dir, so it never lists a file named dir, which the regular expression alone would match.
  const include = p ? p.expandPatternsWithBraceExpansion(ws.config.include).map((x) => p.removeDuplicateSlashes(x)).map((x) => ({ re: p.convertPatternsToRe([x], MATCH)[0]!, below: x.endsWith('/**') ? `${x.slice(0, -2)}` : null })) : null;
  return (rel) => {
    // The default include is `**`, which refuses line breaks; other includes' own expressions decide (`b/*` takes one).
    if (!m || (include === null && LINE_BREAK.test(rel))) return false;
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (m.pruneExact.has(dir) || matchAny(dir, m.prune)) return false;
    }
    if (m.excludeExact.has(rel) || endsWithAny(parts[parts.length - 1]!, m.excludeSuffix) || matchAny(rel, m.exclude)) return false;
    return include === null || include.some((x) => x.re.test(rel) && (x.below === null || rel.startsWith(x.below)));
  };
}

/** What the walk never lists: the exclusions, the config file and the store folders inside the workspace. */
function ignoreList(ws: Workspace): string[] {
  const ignore = [...ws.config.exclude, CONFIG_FILE];
  for (const d of storeDirsInside(ws)) ignore.push(d, `${d}/**`);
  return ignore;
}

/**
 * Lists the managed paths (files and symlinks) in manifest order: never follows symlinks,
 * never enters the store folders, and records folders it cannot read instead of silently leaving
 * them out. `fastGlobOnly` forces fast-glob's walk (for the differential test).
 */
export function walkTree(ws: Workspace, fastGlobOnly = false): Walk {
  const ignore = ignoreList(ws);
  const m = fastGlobOnly ? null : defaultIncludeMatchers(ws.config.include, ignore);
  const w = m ? walkDefault(ws.root, m) : walkWithFastGlob(ws, ignore);
  sortPaths(w.paths);
  return w;
}
