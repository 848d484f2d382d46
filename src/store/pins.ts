import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SnapgovError } from '../errors.js';
import { atomicWriteFile, ensureDir } from '../util/fsx.js';
import type { StoreLayout } from './layout.js';

/** One version of an environment's pin: immutable, numbered from 1, chained to the one before. */
export interface PinEntry {
  format: 'snapgov-pin/1';
  environment: string;
  seq: number;
  snapshot: string;
  /** The snapshot of the entry before, and the SHA-256 of that entry's bytes (null for the first). */
  previous: string | null;
  previousEntry: string | null;
  intent: 'promote' | 'rollback';
  breakGlass: boolean;
  time: string;
  /** The principal who signed the decision, and the run that made it. */
  principal: string;
  runId: string;
  reason: string | null;
  /** Digest of the signed decision statement this pin rests on. */
  decision: string;
}

export interface StoredPin {
  entry: PinEntry;
  digest: string;
  file: string;
}

export function envDir(l: StoreLayout, env: string): string {
  return join(l.metadata, 'envs', env);
}

/** The environments that have a pin history. */
export function pinnedEnvironments(l: StoreLayout): string[] {
  try {
    return readdirSync(join(l.metadata, 'envs')).filter((n) => /^[a-z0-9][a-z0-9._-]{0,63}$/.test(n)).sort();
  } catch {
    return [];
  }
}

const digestOf = (bytes: Buffer | string) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/**
 * The history as stored: `history/1.json`, `2.json`, … without gaps, each naming the digest of the
 * one before. Problems (a gap, a broken chain, a file that is not a pin of this environment) are
 * returned rather than thrown: the caller decides whether to refuse.
 */
export function readPinHistory(l: StoreLayout, env: string): { pins: StoredPin[]; problems: string[] } {
  const dir = join(envDir(l, env), 'history');
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /^\d+\.json$/.test(n));
  } catch {
    return { pins: [], problems: [] };
  }
  const seqs = names.map((n) => Number(n.slice(0, -5))).sort((a, b) => a - b);
  const pins: StoredPin[] = [];
  const problems: string[] = [];
  for (const [i, seq] of seqs.entries()) {
    if (seq !== i + 1) {
      problems.push(`pin ${i + 1} of ${env} is missing (the history jumps to ${seq})`);
      break;
    }
    const file = join('envs', env, 'history', `${seq}.json`);
    const bytes = readFileSync(join(l.metadata, file));
    let entry: PinEntry;
    try {
      entry = JSON.parse(bytes.toString('utf8')) as PinEntry;
    } catch {
      problems.push(`${file} is not JSON`);
      break;
    }
    const before = pins[i - 1];
    if (entry.format !== 'snapgov-pin/1' || entry.environment !== env || entry.seq !== seq || typeof entry.snapshot !== 'string' || typeof entry.decision !== 'string') {
      problems.push(`${file} is not pin ${seq} of ${env}`);
      break;
    }
    if ((before?.digest ?? null) !== entry.previousEntry || (before?.entry.snapshot ?? null) !== entry.previous) {
      problems.push(`${file} does not follow pin ${seq - 1} (the chain of the history is broken)`);
      break;
    }
    pins.push({ entry, digest: digestOf(bytes), file });
  }
  return { pins, problems };
}

/** Writes the next pin; the caller holds the exclusive lock and has read the history. Never replaces an entry. */
export function writePin(l: StoreLayout, entry: PinEntry): StoredPin {
  const dir = join(envDir(l, entry.environment), 'history');
  ensureDir(dir);
  const file = join('envs', entry.environment, 'history', `${entry.seq}.json`);
  if (existsSync(join(l.metadata, file))) throw new SnapgovError('STORE_CORRUPT', `pin ${entry.seq} of ${entry.environment} exists already`, 'run `snapgov env history` and `snapgov audit verify`');
  const text = `${JSON.stringify(entry, null, 2)}\n`;
  atomicWriteFile(join(l.metadata, file), text);
  return { entry, digest: digestOf(text), file };
}
