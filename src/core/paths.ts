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

const SURROGATE = /[\uD800-\uDFFF]/;

/** Orders paths by Unicode code point, which equals the byte order of their UTF-8 encoding. */
export function comparePaths(a: string, b: string): number {
  if (!SURROGATE.test(a) && !SURROGATE.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  const ca = Array.from(a, (c) => c.codePointAt(0)!);
  const cb = Array.from(b, (c) => c.codePointAt(0)!);
  const n = Math.min(ca.length, cb.length);
  for (let i = 0; i < n; i++) if (ca[i] !== cb[i]) return ca[i]! - cb[i]!;
  return ca.length - cb.length;
}
