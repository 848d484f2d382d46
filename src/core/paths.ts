import { isAbsolute, relative, sep } from 'node:path';
/**
 * Workspace-relative paths as they appear in manifests, indexes and archives: POSIX separators,
 * no empty, `.` or `..` segments, not absolute, no NUL (a backslash is an ordinary character on POSIX). Anything else is refused
 * wherever a path is read, so a manifest or archive can never address a file outside the tree.
 */
export function pathProblem(p: string): string | null {
  if (typeof p !== 'string' || p.length === 0) return 'empty path';
  if (p.length > 4096) return 'path longer than 4096 characters';
  if (p.includes('\0')) return 'path contains a NUL character';
  if (p.startsWith('/')) return 'absolute path';
  // Segment checks without splitting: this runs for every entry of every manifest read.
  if (p.endsWith('/') || p.includes('//')) return 'empty path segment (leading, trailing or double slash)';
  if (p === '..' || p.startsWith('../') || p.endsWith('/..') || p.includes('/../')) return '".." path segment';
  if (p === '.' || p.startsWith('./') || p.endsWith('/.') || p.includes('/./')) return '"." path segment';
  if (SURROGATE.test(p) && !p.isWellFormed()) return 'path is not valid Unicode';
  return null;
}

/** A UTF-16 surrogate: where JavaScript's string order and code point order can disagree. */
const SURROGATE = /[\uD800-\uDFFF]/;

/** Whether any of the strings holds a surrogate: one test over joined chunks costs a fraction of one per string. */
export function anySurrogate(strings: readonly string[]): boolean {
  for (let i = 0; i < strings.length; i += 4096) if (SURROGATE.test(strings.slice(i, i + 4096).join(''))) return true;
  return false;
}

/** JavaScript's own string order (UTF-16 units): code point order for strings without surrogates, compared natively. */
export const unitOrder = (a: string, b: string): number => (a === b ? 0 : a < b ? -1 : 1);

/** Sorts paths into manifest order (code point order), in place. */
export function sortPaths(paths: string[]): string[] {
  // Without a comparator, sort compares strings by UTF-16 unit natively: unitOrder's order, without a call per comparison.
  return anySurrogate(paths) ? paths.sort(comparePaths) : paths.sort();
}

/**
 * Orders paths by Unicode code point, which equals the byte order of their UTF-8 encoding. UTF-16
 * order (JavaScript's `<`) agrees except where the first difference is a surrogate (part of a code
 * point above U+FFFF) against a unit of U+E000–U+FFFF, so only that character is looked at.
 */
export function comparePaths(a: string, b: string): number {
  if (a === b) return 0; // the common case when two trees are compared, and a native comparison
  const n = Math.min(a.length, b.length);
  let k = 0;
  while (k < n && a.charCodeAt(k) === b.charCodeAt(k)) k++;
  if (k === n) return a.length - b.length;
  const x = a.charCodeAt(k);
  const y = b.charCodeAt(k);
  const sx = x >= 0xd800 && x <= 0xdfff;
  const sy = y >= 0xd800 && y <= 0xdfff;
  if (sx !== sy && (sx ? y : x) >= 0xe000) return sx ? 1 : -1;
  return x - y;
}

/** Whether `child` is `parent` or lies below it (absolute paths, compared as given). */
export function within(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}
