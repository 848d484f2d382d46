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
const TAGREF = /^tag:(.+)$/;

/** What a REF can be resolved against: a snapshot's time, and from its metadata its trigger and tags. */
export interface Referable extends Dated {
  meta?: { trigger?: string; tags?: readonly string[] };
}

/** Snapshots snapgov took itself before a rollback: a record of a state rolled away from, never "latest". */
const isSafety = (s: Referable) => s.meta?.trigger === 'pre-rollback';

const REF_FORMS = 'a full ID, a hex prefix of at least 4 digits, `latest`, `latest~N`, `live`, a tag or `tag:NAME`';

/**
 * Resolves a REF against the snapshots in the store, sorted oldest first:
 * - a full ID or unique hex prefix (4 digits or more);
 * - `latest`, `latest~N`: the newest snapshot, and the N-th before it, not counting the safety
 *   snapshots rollbacks take (after a rollback, `latest` is still the newest snapshot someone took);
 * - `live`: the snapshot the live tree was last set to or taken as (`live` is given by the caller);
 * - a tag (`tag:NAME` when the name could be read as a hex prefix): the newest snapshot with it.
 */
export function resolveRef<T extends Referable>(ref: string, snapshots: readonly T[], opts: { live?: string | null } = {}): T {
  const latest = LATEST.exec(ref);
  if (latest) {
    const n = latest[1] === undefined ? 0 : Number(latest[1]);
    const taken = snapshots.filter((s) => !isSafety(s));
    const s = taken[taken.length - 1 - n];
    if (!s) {
      throw new SnapgovError('REF_UNKNOWN', taken.length === 0 ? 'the store has no snapshots yet' : `${ref}: the store has only ${taken.length} snapshot(s) besides safety snapshots`, taken.length === 0 ? 'create one with `snapgov create`' : 'see `snapgov list`');
    }
    return s;
  }
  if (ref === 'live') {
    const s = opts.live ? snapshots.find((x) => x.id === opts.live) : undefined;
    if (!s) throw new SnapgovError('REF_UNKNOWN', opts.live ? `the live tree is recorded at ${shortId(opts.live)}, which is not in the store` : 'no snapshot is recorded as live yet', 'create a snapshot (snapgov create) or roll back to one; see snapgov status');
    return s;
  }
  const tag = TAGREF.exec(ref)?.[1];
  const m = tag === undefined ? HEXREF.exec(ref.toLowerCase()) : null;
  if (!m) {
    const name = tag ?? ref;
    for (let i = snapshots.length - 1; i >= 0; i--) if (snapshots[i]!.meta?.tags?.includes(name)) return snapshots[i]!;
    throw new SnapgovError('REF_UNKNOWN', `no snapshot matches ${JSON.stringify(ref)} (not an ID, and no snapshot has that tag)`, `use ${REF_FORMS}; see snapgov list`);
  }
  const prefix = `sha256:${m[1]}`;
  const hits = snapshots.filter((s) => s.id.startsWith(prefix));
  if (hits.length === 1) return hits[0]!;
  if (hits.length === 0) throw new SnapgovError('REF_UNKNOWN', `no snapshot matches ${ref}`, 'see `snapgov list` for the snapshots in this store (a tag that looks like hex is written tag:NAME)');
  throw new SnapgovError('REF_AMBIGUOUS', `${ref} is ambiguous: ${hits.length} snapshots match`, `use a longer prefix: ${hits.map((h) => h.id.slice(7, 19)).join(', ')}`, { candidates: hits.map((h) => h.id) });
}

export function shortId(id: string): string {
  return id.startsWith('sha256:') ? id.slice(7, 19) : id.slice(0, 12);
}
