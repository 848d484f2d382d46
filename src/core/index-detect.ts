import { posix } from 'node:path';
import type { IndexConfig } from './index-check.js';
import { artifactPath, resolvePointer } from './index-check.js';

/** What `init` found in an artifact index, and how many listed artifacts exist under that reading. */
export interface DetectedIndex {
  entries: string;
  pathField: string;
  digestField: string;
  relativeTo: IndexConfig['relativeTo'];
  artifacts: number;
  found: number;
}

const PATH_FIELDS = ['path', 'file', 'filename', 'src', 'location', 'name'];
const DIGEST_FIELDS = ['sha256', 'digest', 'hash', 'checksum'];
const DIGEST = /^(?:sha256:)?[0-9a-fA-F]{64}$/;
const MAX_DEPTH = 3;

const pointerOf = (keys: string[]) => keys.map((k) => `/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');

/** Every array in the document down to MAX_DEPTH object levels, with its JSON pointer. */
function arrays(doc: unknown, keys: string[] = []): { pointer: string; list: unknown[] }[] {
  if (Array.isArray(doc)) return [{ pointer: pointerOf(keys), list: doc }];
  if (typeof doc !== 'object' || doc === null || keys.length >= MAX_DEPTH) return [];
  return Object.entries(doc).flatMap(([k, v]) => arrays(v, [...keys, k]));
}

const rank = (names: string[], k: string) => (names.includes(k) ? names.indexOf(k) : names.length);

/**
 * Reads an index the way its authors wrote it: which array lists the artifacts, which field holds
 * a path, which a digest, and whether paths are relative to the index's folder or the workspace
 * root — decided by which reading makes the listed files exist. Pure: existence is asked of
 * `exists` with workspace-relative paths. Ties go to snapgov's defaults (`/artifacts`, `path`,
 * `sha256`, relative to the index).
 */
export function detectIndex(doc: unknown, indexPath: string, exists: (path: string) => boolean): DetectedIndex {
  const dir = posix.dirname(indexPath);
  const resolveUnder = (base: string, p: string) => {
    const j = posix.normalize(posix.join(base, p));
    return j === '..' || j.startsWith('../') || p.startsWith('/') ? null : j;
  };
  const count = (base: string, values: string[]) => values.filter((v) => {
    const j = resolveUnder(base, v);
    return j !== null && exists(j);
  }).length;
  let best: DetectedIndex | null = null;
  for (const { pointer, list } of arrays(doc)) {
    const items = list.filter((x): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x));
    const keys = [...new Set(items.flatMap((x) => Object.keys(x)))];
    const stringKeys = keys.filter((k) => items.some((x) => typeof x[k] === 'string'));
    const digestField = keys.filter((k) => items.some((x) => typeof x[k] === 'string' && DIGEST.test(x[k] as string))).sort((a, b) => rank(DIGEST_FIELDS, a) - rank(DIGEST_FIELDS, b))[0] ?? 'sha256';
    for (const field of stringKeys.length ? stringKeys : ['path']) {
      const values = items.map((x) => x[field]).filter((v): v is string => typeof v === 'string' && v !== '');
      const inIndex = count(dir, values);
      const inRoot = dir === '.' ? inIndex : count('.', values);
      const c: DetectedIndex = { entries: pointer, pathField: field, digestField, relativeTo: inRoot > inIndex ? 'workspace' : 'index', artifacts: list.length, found: Math.max(inIndex, inRoot) };
      if (!best || better(c, best)) best = c;
    }
  }
  return best ?? { entries: '/artifacts', pathField: 'path', digestField: 'sha256', relativeTo: 'index', artifacts: 0, found: 0 };
}

/** More files found wins; then an array of snapgov's default name, then a better-known field name. */
function better(a: DetectedIndex, b: DetectedIndex): boolean {
  if (a.found !== b.found) return a.found > b.found;
  if ((a.entries === '/artifacts') !== (b.entries === '/artifacts')) return a.entries === '/artifacts';
  if (a.artifacts !== b.artifacts) return a.artifacts > b.artifacts;
  return rank(PATH_FIELDS, a.pathField) < rank(PATH_FIELDS, b.pathField);
}

/** How many entries a given reading lists, and how many of them exist (for settings given as flags). */
export function countArtifacts(doc: unknown, cfg: Pick<IndexConfig, 'path' | 'entries' | 'pathField' | 'relativeTo'>, exists: (path: string) => boolean): { artifacts: number; found: number } {
  const list = resolvePointer(doc, cfg.entries);
  if (!Array.isArray(list)) return { artifacts: 0, found: 0 };
  let found = 0;
  for (const item of list) {
    const p = typeof item === 'object' && item !== null ? (item as Record<string, unknown>)[cfg.pathField] : undefined;
    if (typeof p !== 'string' || p === '') continue;
    const r = artifactPath({ ...cfg, digestField: '', schema: null }, p);
    if ('path' in r && exists(r.path)) found++;
  }
  return { artifacts: list.length, found };
}
