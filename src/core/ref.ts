import { SnapgovError } from '../errors.js';

export interface Dated {
  id: string;
  time: string;
}

/** Oldest first; ties at the same time broken by ID so the order is total and repeatable. */
export function compareByTime(a: Dated, b: Dated): number {
  const ta = Date.parse(a.time);
  const tb = Date.parse(b.time);
  if (ta !== tb) return ta - tb;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

const LATEST = /^latest(?:~(\d+))?$/;
const HEXREF = /^(?:sha256:)?([0-9a-f]{4,64})$/;

/**
 * Resolves a REF (full ID, unique hex prefix of at least 4 digits, `latest`, `latest~N`) against
 * the snapshots in the store, sorted oldest first.
 */
export function resolveRef<T extends Dated>(ref: string, snapshots: readonly T[]): T {
  const latest = LATEST.exec(ref);
  if (latest) {
    const n = latest[1] === undefined ? 0 : Number(latest[1]);
    const s = snapshots[snapshots.length - 1 - n];
    if (!s) {
      throw new SnapgovError('REF_UNKNOWN', snapshots.length === 0 ? 'the store has no snapshots yet' : `${ref}: the store has only ${snapshots.length} snapshot(s)`, snapshots.length === 0 ? 'create one with `snapgov create`' : 'see `snapgov list`');
    }
    return s;
  }
  const m = HEXREF.exec(ref.toLowerCase());
  if (!m) {
    throw new SnapgovError('REF_UNKNOWN', `not a snapshot reference: ${JSON.stringify(ref)}`, 'use a full ID, a hex prefix of at least 4 digits, `latest` or `latest~N`');
  }
  const prefix = `sha256:${m[1]}`;
  const hits = snapshots.filter((s) => s.id.startsWith(prefix));
  if (hits.length === 1) return hits[0]!;
  if (hits.length === 0) throw new SnapgovError('REF_UNKNOWN', `no snapshot matches ${ref}`, 'see `snapgov list` for the snapshots in this store');
  throw new SnapgovError('REF_AMBIGUOUS', `${ref} is ambiguous: ${hits.length} snapshots match`, `use a longer prefix: ${hits.map((h) => h.id.slice(7, 19)).join(', ')}`, { candidates: hits.map((h) => h.id) });
}

export function shortId(id: string): string {
  return id.startsWith('sha256:') ? id.slice(7, 19) : id.slice(0, 12);
}
