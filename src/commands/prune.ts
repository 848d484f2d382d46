import { rmSync } from 'node:fs';
import type { ChalkInstance } from 'chalk';
import type { RetentionConfig } from '../config/config.js';
import { applyPolicy, COUNT_RULES, isEmptyPolicy, parseCalendarSpan, protect, type CountRule, type Decision, type RetentionPolicy } from '../core/retention.js';
import { shortId } from '../core/ref.js';
import { SnapgovError } from '../errors.js';
import { formatBytes, outcome, type GlobalOptions, type Outcome } from '../output.js';
import { readJournal } from '../rollback/journal.js';
import { appendAudit } from '../store/audit-log.js';
import { manifestPath, metadataPath, type StoreLayout } from '../store/layout.js';
import { removeSignatureFiles } from '../store/signature-files.js';
import { loadHistory, readLive } from '../store/snapshots.js';
import { faultPoint } from '../util/fault.js';
import { fsyncDir } from '../util/fsx.js';
import { collectGarbage, type GcSummary } from './gc.js';
import { openStore, withLock } from '../store/open.js';

export interface PruneOptions {
  keepLast?: string;
  keepHourly?: string;
  keepDaily?: string;
  keepWeekly?: string;
  keepMonthly?: string;
  keepYearly?: string;
  keepWithin?: string;
  keepTag?: string[];
  dryRun?: boolean;
  allowRemoveAll?: boolean;
}

export interface PruneResult extends GcSummary {
  dryRun: boolean;
  policy: string;
  keep: { id: string; time: string; reasons: string[] }[];
  remove: { id: string; time: string }[];
  /** Snapshots dated after now (clock skew): kept and left out of the rules. */
  future: string[];
}

const DEFAULT_POLICY: RetentionPolicy = { counts: { last: 20 }, within: null, tags: [] };

function count(text: string, flag: string): number {
  if (!/^\d+$/.test(text.trim())) throw new SnapgovError('USAGE', `${flag} ${JSON.stringify(text)} is not a whole number`, `for example ${flag} 7`);
  return Number(text);
}

const FLAG: Record<CountRule, keyof PruneOptions> = { last: 'keepLast', hourly: 'keepHourly', daily: 'keepDaily', weekly: 'keepWeekly', monthly: 'keepMonthly', yearly: 'keepYearly' };
const CONFIG_KEY: Record<CountRule, keyof RetentionConfig> = FLAG as Record<CountRule, keyof RetentionConfig>;

/** Flags replace the config's rules for this run; with neither, keep-last 20. */
export function policyFrom(n: string | undefined, opts: PruneOptions, config: RetentionConfig): RetentionPolicy {
  if (n !== undefined && opts.keepLast !== undefined) throw new SnapgovError('USAGE', 'give either a bare number or --keep-last, not both', 'snapgov prune 20 means --keep-last 20');
  const flagged = n !== undefined || opts.keepWithin !== undefined || (opts.keepTag?.length ?? 0) > 0 || COUNT_RULES.some((r) => opts[FLAG[r]] !== undefined);
  if (flagged) {
    const counts: RetentionPolicy['counts'] = {};
    for (const r of COUNT_RULES) {
      const v = r === 'last' && n !== undefined ? n : (opts[FLAG[r]] as string | undefined);
      if (v !== undefined) counts[r] = count(v, r === 'last' && n !== undefined ? 'prune N:' : `--keep-${r}`);
    }
    return { counts, within: opts.keepWithin !== undefined ? parseCalendarSpan(opts.keepWithin) : null, tags: opts.keepTag ?? [] };
  }
  const counts: RetentionPolicy['counts'] = {};
  for (const r of COUNT_RULES) if (config[CONFIG_KEY[r]] !== undefined) counts[r] = config[CONFIG_KEY[r]] as number;
  const fromConfig: RetentionPolicy = { counts, within: config.keepWithin ? parseCalendarSpan(config.keepWithin) : null, tags: config.keepTags ?? [] };
  const configured = COUNT_RULES.some((r) => config[CONFIG_KEY[r]] !== undefined) || config.keepWithin !== undefined || config.keepTags !== undefined;
  return configured ? fromConfig : DEFAULT_POLICY;
}

export function describePolicy(p: RetentionPolicy): string {
  const parts = COUNT_RULES.filter((r) => p.counts[r]).map((r) => `--keep-${r} ${p.counts[r]}`);
  if (p.within) parts.push(`--keep-within ${p.within.text}`);
  for (const t of p.tags) parts.push(`--keep-tag ${t}`);
  return parts.join(' ') || '(empty)';
}

/** The protections no rule overrides, as reasons per snapshot ID. */
async function protections(layout: StoreLayout, history: { id: string; meta: { pinned?: unknown; protectedUntil?: string } }[], now: number): Promise<Map<string, string[]>> {
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
  return out;
}

export async function prune(n: string | undefined, opts: PruneOptions, g: GlobalOptions): Promise<Outcome<PruneResult>> {
  const { ws, layout } = await openStore(g);
  const policy = policyFrom(n, opts, ws.config.retention);
  if (isEmptyPolicy(policy) && !opts.allowRemoveAll) {
    throw new SnapgovError('USAGE', 'the retention policy is empty: it would remove every snapshot that is not protected', 'give at least one rule (for example --keep-last 20), or --allow-remove-all if that is really meant');
  }
  const dryRun = !!opts.dryRun;
  // Deciding and deleting happen under one lock, so nothing created meanwhile can be lost (ostree #2337).
  return withLock(g, layout, dryRun ? 'shared' : 'exclusive', 'prune', async (lock) => {
    const now = Date.now();
    const { snapshots, broken } = await loadHistory(layout);
    const decisions: Decision[] = protect(
      applyPolicy(snapshots.map((s) => ({ id: s.id, time: Date.parse(s.time), tags: s.meta.tags })), policy, { now, timeZone: ws.config.retention.timezone }),
      await protections(layout, snapshots, now),
    );
    const kept = decisions.filter((d) => d.keep);
    const removed = decisions.filter((d) => !d.keep);
    if (kept.length === 0 && removed.length > 0 && !opts.allowRemoveAll) {
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
    return outcome(result, renderPrune, 0, warnings);
  });
}

function renderPrune(r: PruneResult, s: ChalkInstance): string {
  const rows = [...r.keep.map((k) => ({ ...k, keep: true })), ...r.remove.map((x) => ({ ...x, reasons: [] as string[], keep: false }))].sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0));
  const lines = [`policy: ${r.policy}`];
  for (const x of rows) lines.push(`${x.keep ? s.green('keep  ') : s.red('remove')} ${shortId(x.id)}  ${x.time.padEnd(24)}  ${x.reasons.join(', ')}`.trimEnd());
  const verb = r.dryRun ? 'would remove' : 'removed';
  lines.push(`${r.dryRun ? s.yellow('dry run: ') : ''}kept ${r.keep.length}, ${verb} ${r.remove.length} snapshot(s); ${r.dryRun ? 'would delete' : 'deleted'} ${r.objectsDeleted} object(s), ${formatBytes(r.bytesFreed)}`);
  return lines.join('\n');
}
