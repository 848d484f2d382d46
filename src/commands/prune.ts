import type { ChalkInstance } from 'chalk';
import type { RetentionConfig } from '../config/config.js';
import { COUNT_RULES, isEmptyPolicy, parseCalendarSpan, type CountRule, type RetentionPolicy } from '../core/retention.js';
import { shortId } from '../core/ref.js';
import { SnapgovError } from '../errors.js';
import { formatBytes, outcome, type GlobalOptions, type Outcome } from '../output.js';
import { openStore, withLock } from '../store/open.js';
import { pruneSnapshots, type PruneResult } from '../store/prune.js';

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

export async function prune(n: string | undefined, opts: PruneOptions, g: GlobalOptions): Promise<Outcome<PruneResult>> {
  const { ws, layout } = await openStore(g);
  const policy = policyFrom(n, opts, ws.config.retention);
  if (isEmptyPolicy(policy) && !opts.allowRemoveAll) {
    throw new SnapgovError('USAGE', 'the retention policy is empty: it would remove every snapshot that is not protected', 'give at least one rule (for example --keep-last 20), or --allow-remove-all if that is really meant');
  }
  const dryRun = !!opts.dryRun;
  // Deciding and deleting happen under one lock (see pruneSnapshots).
  return withLock(g, layout, dryRun ? 'shared' : 'exclusive', 'prune', async (lock) => {
    const { result, warnings } = await pruneSnapshots(layout, lock, policy, { dryRun, allowRemoveAll: !!opts.allowRemoveAll, timeZone: ws.config.retention.timezone, keepPins: Object.fromEntries(Object.entries(ws.config.environments).map(([n, e]) => [n, e.keepPins])) });
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
