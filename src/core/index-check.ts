import { posix } from 'node:path';
import type { Entry } from './manifest.js';
import { pathProblem } from './paths.js';

/** How the artifact index is read (the config's `index` section, defaults applied). */
export interface IndexConfig {
  path: string;
  entries: string;
  pathField: string;
  digestField: string;
  relativeTo: 'index' | 'workspace';
  schema: string | null;
}

export interface Problem {
  code: string;
  path: string;
  message: string;
}

export interface IndexCheck {
  artifacts: number;
  problems: Problem[];
}

/** RFC 6901 JSON pointer; undefined when it does not resolve. */
export function resolvePointer(doc: unknown, pointer: string): unknown {
  if (pointer === '') return doc;
  let cur: unknown = doc;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      if (!/^(0|[1-9]\d*)$/.test(key)) return undefined;
      cur = cur[Number(key)];
    } else if (typeof cur === 'object' && cur !== null && Object.hasOwn(cur, key)) {
      cur = (cur as Record<string, unknown>)[key];
    } else {
      return undefined;
    }
  }
  return cur;
}

/** Where an artifact path from the index lives in the workspace, or a reason it cannot. */
export function artifactPath(cfg: IndexConfig, p: string): { path: string } | { problem: string } {
  if (p.startsWith('/')) return { problem: 'absolute path' };
  const base = cfg.relativeTo === 'index' ? posix.dirname(cfg.path) : '.';
  const joined = posix.normalize(posix.join(base, p));
  if (joined === '..' || joined.startsWith('../')) return { problem: 'path escapes the workspace' };
  const bad = pathProblem(joined);
  return bad ? { problem: bad } : { path: joined };
}

const DIGEST = /^(?:sha256:)?([0-9a-fA-F]{64})$/;

/**
 * Checks a parsed artifact index against a tree: the entry list exists, every entry names a safe
 * path to a regular file of the tree, and matches its digest where one is given. Pure: the tree is
 * given as a lookup function.
 */
export function checkIndex(doc: unknown, cfg: IndexConfig, lookup: (path: string) => Entry | undefined): IndexCheck {
  const problems: Problem[] = [];
  const list = resolvePointer(doc, cfg.entries);
  if (!Array.isArray(list)) {
    problems.push({ code: 'INDEX_NO_ENTRIES', path: cfg.path, message: `the index has no array at JSON pointer ${JSON.stringify(cfg.entries)}` });
    return { artifacts: 0, problems };
  }
  list.forEach((item: unknown, i: number) => {
    const where = `${cfg.path}#${cfg.entries}/${i}`;
    const p = typeof item === 'object' && item !== null ? (item as Record<string, unknown>)[cfg.pathField] : undefined;
    if (typeof p !== 'string' || p === '') {
      problems.push({ code: 'INDEX_ENTRY_INVALID', path: where, message: `entry ${i} has no string "${cfg.pathField}"` });
      return;
    }
    const resolved = artifactPath(cfg, p);
    if ('problem' in resolved) {
      problems.push({ code: 'INDEX_PATH_UNSAFE', path: p, message: `entry ${i} path ${JSON.stringify(p)}: ${resolved.problem}` });
      return;
    }
    const e = lookup(resolved.path);
    if (!e) {
      problems.push({ code: 'ARTIFACT_MISSING', path: resolved.path, message: `listed in the index but not in the tree` });
      return;
    }
    if (e.type !== 'file') {
      problems.push({ code: 'ARTIFACT_NOT_FILE', path: resolved.path, message: 'listed in the index but is a symlink' });
      return;
    }
    const d = (item as Record<string, unknown>)[cfg.digestField];
    if (d === undefined || d === null) return;
    const m = typeof d === 'string' ? DIGEST.exec(d) : null;
    if (!m) {
      problems.push({ code: 'INDEX_ENTRY_INVALID', path: resolved.path, message: `entry ${i} has a malformed "${cfg.digestField}"` });
    } else if (m[1]!.toLowerCase() !== e.sha256) {
      problems.push({ code: 'ARTIFACT_DIGEST_MISMATCH', path: resolved.path, message: `index says sha256 ${m[1]!.toLowerCase()}, the file has ${e.sha256}` });
    }
  });
  return { artifacts: list.length, problems };
}

/**
 * The setting of snapgov.json that fixes a set of index problems, named in the error's hint. A list
 * where no artifact was found is most often read from the wrong base folder or array.
 */
export function indexProblemHint(cfg: IndexConfig, problems: readonly Problem[], artifacts: number): string {
  const codes = new Set(problems.map((p) => p.code));
  const has = (c: string) => codes.has(c);
  const missing = problems.filter((p) => p.code === 'ARTIFACT_MISSING').length;
  const other = cfg.relativeTo === 'index' ? 'workspace' : 'index';
  const parts: string[] = [];
  if (has('INDEX_MISSING') || has('INDEX_NOT_JSON')) parts.push(`set "index.path" in snapgov.json to the JSON index file (now ${JSON.stringify(cfg.path)}), or "index": null`);
  if (has('INDEX_NO_ENTRIES')) parts.push(`set "index.entries" to the JSON pointer of the array that lists the artifacts (now ${JSON.stringify(cfg.entries)})`);
  if (problems.some((p) => p.code === 'INDEX_ENTRY_INVALID' && p.message.includes(`"${cfg.pathField}"`) && !p.message.includes('malformed'))) parts.push(`set "index.pathField" to the entries' path field (now "${cfg.pathField}")`);
  if (problems.some((p) => p.code === 'INDEX_ENTRY_INVALID' && p.message.includes('malformed'))) parts.push(`set "index.digestField" to the entries' SHA-256 field (now "${cfg.digestField}")`);
  if (missing > 0 && (missing === artifacts || has('INDEX_PATH_UNSAFE'))) parts.push(`if the paths are relative to the ${other === 'workspace' ? 'workspace root' : "index's folder"}, set "index.relativeTo": "${other}"`);
  if (has('INDEX_SCHEMA_INVALID') || has('INDEX_SCHEMA_UNREADABLE')) parts.push(`fix the index or "index.schema" (now ${JSON.stringify(cfg.schema)})`);
  if (has('ARTIFACT_DIGEST_MISMATCH') || (missing > 0 && missing < artifacts) || has('ARTIFACT_NOT_FILE')) parts.push('update the index or the artifacts it lists');
  return parts.join('; ');
}
