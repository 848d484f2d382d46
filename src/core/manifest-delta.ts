// A snapshot manifest as the changes from another one: what a host that holds the base needs to
// rebuild the new manifest byte for byte (a line per file would otherwise travel whole with every
// pull, however little changed). The result is only ever trusted when it hashes to the ID.
import { changeKind, walkPairs } from './diff.js';
import { serializeManifest, snapshotIdOf, type Entry } from './manifest.js';

export const DELTA_FORMAT = 'snapgov-manifest-delta/1';

export interface ManifestDelta {
  format: typeof DELTA_FORMAT;
  /** The snapshot the delta applies to. */
  base: string;
  /** Paths of the base that are gone, in manifest order. */
  remove: string[];
  /** Entries that are new or differ from the base's, in manifest order. */
  put: Entry[];
}

export function manifestDelta(base: string, from: readonly Entry[], to: readonly Entry[]): ManifestDelta {
  const remove: string[] = [];
  const put: Entry[] = [];
  walkPairs(from, to, (a, b) => {
    if (!b) remove.push(a!.path);
    else if (!a || changeKind(a, b) !== null) put.push(b);
  });
  return { format: DELTA_FORMAT, base, remove, put };
}

/** The manifest bytes the delta makes of the base's entries, or null when they do not hash to `id`. */
export function applyManifestDelta(from: readonly Entry[], delta: ManifestDelta, id: string): Buffer | null {
  const removed = new Set(delta.remove);
  const out: Entry[] = [];
  walkPairs(from, delta.put, (a, b) => {
    if (b) out.push(b);
    else if (!removed.has(a!.path)) out.push(a!);
  });
  const bytes = serializeManifest(out);
  return snapshotIdOf(bytes) === id ? bytes : null;
}
