import { rmSync } from 'node:fs';
import { applyPolicy, describePolicy, protect, type Decision, type RetentionPolicy } from '../core/retention.js';
import { shortId } from '../core/ref.js';
import { SnapgovError } from '../errors.js';
import { faultPoint } from '../util/fault.js';
import { fsyncDir } from '../util/fsx.js';
import { appendAudit } from './audit-log.js';
import { collectGarbage, type GcSummary } from './gc.js';
import { readJournal } from './journal.js';
import { pinnedEnvironments, readPinHistory } from './pins.js';
import { manifestPath, metadataPath, type StoreLayout } from './layout.js';
import type { StoreLock } from './lock.js';
import { removeSignatureFiles } from './signature-files.js';
import { loadHistory, readLive } from './snapshots.js';

export interface PruneResult extends GcSummary {
  dryRun: boolean;
  policy: string;
  keep: { id: string; time: string; reasons: string[] }[];
  remove: { id: string; time: string }[];
  /** Snapshots dated after now (clock skew): kept and left out of the rules. */
  future: string[];
}

export interface PruneRun {
  dryRun: boolean;
  allowRemoveAll: boolean;
  timeZone: string;
  /** Per environment, how many pins before the current one keep their snapshots. */
  keepPins: Readonly<Record<string, number>>;
}

/** The protections no rule overrides, as reasons per snapshot ID. */
async function protections(layout: StoreLayout, history: { id: string; meta: { pinned?: unknown; protectedUntil?: string } }[], now: number, keepPins: Readonly<Record<string, number>>): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const add = (id: string | null | undefined, reason: string) => {
    if (!id) return;
    const list = out.get(id) ?? [];
    if (!list.includes(reason)) list.push(reason);
    out.set(id, list);
  };
  add((await readLive(layout))?.id, 'live');
  for (const s of history) {
    if (s.meta.pinned) add(s.id, 'pinned');
    if (s.meta.protectedUntil && Date.parse(s.meta.protectedUntil) > now) add(s.id, `safety until ${s.meta.protectedUntil}`);
  }
  const journal = await readJournal(layout);
  if (journal) for (const id of [journal.to, journal.from, journal.safety]) add(id, 'rollback journal');
  // What an environment is pinned to, and what it was pinned to in its last N pins (a rollback's targets).
  for (const env of pinnedEnvironments(layout)) {
    const pins = readPinHistory(layout, env).pins;
    add(pins.at(-1)?.entry.snapshot, `pinned in ${env}`);
    for (const p of pins.slice(-1 - (keepPins[env] ?? 5), -1)) add(p.entry.snapshot, `in the last pins of ${env}`);
  }
  return out;
}

/**
 * Applies the policy and removes what it does not keep. Deciding and deleting happen under the
 * caller's one lock, so nothing created meanwhile can be lost (ostree #2337).
 */
export async function pruneSnapshots(layout: StoreLayout, lock: StoreLock, policy: RetentionPolicy, run: PruneRun): Promise<{ result: PruneResult; warnings: string[] }> {
  const { dryRun } = run;
  const now = Date.now();
  const { snapshots, broken } = await loadHistory(layout);
  const decisions: Decision[] = protect(
    applyPolicy(snapshots.map((s) => ({ id: s.id, time: Date.parse(s.time), tags: s.meta.tags })), policy, { now, timeZone: run.timeZone }),
    await protections(layout, snapshots, now, run.keepPins),
  );
  const kept = decisions.filter((d) => d.keep);
  const removed = decisions.filter((d) => !d.keep);
  if (kept.length === 0 && removed.length > 0 && !run.allowRemoveAll) {
    throw new SnapgovError('USAGE', `the policy ${describePolicy(policy)} would remove all ${removed.length} snapshot(s)`, 'keep at least one (for example --keep-last 1), or give --allow-remove-all');
  }
  const roots = [...kept.map((d) => d.id), ...broken.map((b) => b.id)];
  const gc = await collectGarbage(layout, roots, lock, {
    dryRun,
    // References go first: a snapshot is gone once its metadata is, then its manifest; objects last.
    beforeCollect: async () => {
      for (const d of removed) {
        await appendAudit(layout, { action: 'prune-remove', snapshots: [d.id], outcome: 'success', details: { time: new Date(d.time).toISOString(), policy: describePolicy(policy) } });
        faultPoint('prune-remove');
        rmSync(metadataPath(layout, d.id), { force: true });
        fsyncDir(layout.metadata);
        rmSync(manifestPath(layout, d.id), { force: true });
        removeSignatureFiles(layout, d.id);
      }
      if (removed.length > 0) fsyncDir(layout.manifests);
    },
  });
  const iso = (d: Decision) => new Date(d.time).toISOString();
  const result: PruneResult = {
    dryRun,
    policy: describePolicy(policy),
    keep: [...kept.map((d) => ({ id: d.id, time: iso(d), reasons: d.reasons })), ...broken.map((b) => ({ id: b.id, time: '', reasons: ['unreadable metadata'] }))],
    remove: removed.map((d) => ({ id: d.id, time: iso(d) })),
    future: decisions.filter((d) => d.reasons.includes('future timestamp')).map((d) => d.id),
    ...gc,
  };
  const warnings = [
    ...result.future.map((id) => `${shortId(id)} is dated in the future (clock skew?): kept, and left out of the rules`),
    ...broken.map((b) => `${b.message}: kept; run snapgov verify --all`),
  ];
  return { result, warnings };
}
