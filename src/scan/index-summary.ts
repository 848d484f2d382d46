import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Workspace } from '../config/config.js';
import { checkIndex, type Problem } from '../core/index-check.js';
import { sha256Hex, type Entry } from '../core/manifest.js';
import { validateWith } from '../schema.js';
import type { IndexSummary } from '../store/snapshots.js';

const MAX_INDEX_BYTES = 256 << 20;

function readJson(path: string): { doc?: unknown; bytes?: Buffer; error?: string } {
  try {
    const bytes = readFileSync(path);
    if (bytes.length > MAX_INDEX_BYTES) return { error: `larger than ${MAX_INDEX_BYTES} bytes` };
    return { doc: JSON.parse(bytes.toString('utf8')), bytes };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/**
 * Summarizes and checks the live artifact index against the entries of a tree (just scanned, so
 * the index file's bytes must still hash to its entry). Null when the workspace has no index.
 */
export async function summarizeIndex(ws: Workspace, entries: readonly Entry[]): Promise<IndexSummary | null> {
  const cfg = ws.config.index;
  if (!cfg) return null;
  const byPath = new Map(entries.map((e) => [e.path, e]));
  const fail = (code: string, message: string): IndexSummary => ({ path: cfg.path, sha256: null, artifacts: 0, consistent: false, problems: [{ code, path: cfg.path, message }] });
  const own = byPath.get(cfg.path);
  if (!own || own.type !== 'file') return fail('INDEX_MISSING', 'the index file is not in the managed tree');
  const read = readJson(join(ws.root, cfg.path));
  if (read.error !== undefined) return fail('INDEX_NOT_JSON', `the index cannot be parsed: ${read.error}`);
  const digest = sha256Hex(read.bytes!);
  if (digest !== own.sha256) return fail('INDEX_CHANGED', 'the index file changed while the tree was read; run the command again');
  const problems: Problem[] = [];
  if (cfg.schema) {
    const schema = readJson(join(ws.root, cfg.schema));
    if (schema.error !== undefined) {
      problems.push({ code: 'INDEX_SCHEMA_UNREADABLE', path: cfg.schema, message: `the index schema cannot be read: ${schema.error}` });
    } else {
      try {
        const res = await validateWith(schema.doc as object, read.doc);
        for (const m of res.errors) problems.push({ code: 'INDEX_SCHEMA_INVALID', path: cfg.path, message: m });
      } catch (e) {
        problems.push({ code: 'INDEX_SCHEMA_UNREADABLE', path: cfg.schema, message: `the index schema is not a valid JSON Schema: ${(e as Error).message}` });
      }
    }
  }
  const check = checkIndex(read.doc, cfg, (p) => byPath.get(p));
  problems.push(...check.problems);
  return { path: cfg.path, sha256: digest, artifacts: check.artifacts, consistent: problems.length === 0, ...(problems.length ? { problems } : {}) };
}
