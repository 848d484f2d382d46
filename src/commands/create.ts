import type { ChalkInstance } from 'chalk';
import { shortId } from '../core/ref.js';
import { EXIT_PARTIAL, SnapgovError } from '../errors.js';
import { formatBytes, outcome, type GlobalOptions, type Outcome } from '../output.js';
import type { Trigger } from '../store/snapshots.js';
import { previewSnapshot, takeSnapshot, type TakenSnapshot } from '../snapshot/take.js';
import { parseLabels } from './common.js';
import { openStore, withLock } from '../store/open.js';
import { canAsk } from '../util/prompt.js';
import { hasControl } from '../util/text.js';

export const USER_TRIGGERS = ['manual', 'cron', 'ci', 'promotion'] as const;

export interface CreateOptions {
  trigger?: string;
  env?: string;
  tag?: string[];
  label?: string[];
  message?: string;
  time?: string;
  allowPartial?: boolean;
  allowInconsistentIndex?: boolean;
  sign?: boolean;
  dryRun?: boolean;
}

export type CreateResult = Omit<TakenSnapshot, 'entries'> & { durationMs: number; dryRun?: true; signature?: { type: string; method: string; signer: string; file: string } };

function parseTime(t: string | undefined): string {
  if (t === undefined) return new Date().toISOString();
  const ms = Date.parse(t);
  const ymd = /^(\d{4})-(\d{2})-(\d{2})/.exec(t);
  // Date.parse rolls an impossible day over (2026-02-30 becomes March 2): such a date is refused.
  const real = ymd !== null && Number(ymd[3]) >= 1 && Number(ymd[3]) <= new Date(Date.UTC(Number(ymd[1]), Number(ymd[2]), 0)).getUTCDate();
  if (!ymd || !real || Number.isNaN(ms)) throw new SnapgovError('USAGE', `--time ${JSON.stringify(t)} is not an ISO 8601 time${ymd && !real ? ' (no such day)' : ''}`, 'for example --time 2026-01-31T12:00:00Z');
  return new Date(ms).toISOString();
}

export async function create(opts: CreateOptions, g: GlobalOptions): Promise<Outcome<CreateResult>> {
  const started = performance.now();
  const trigger = (opts.trigger ?? 'manual') as Trigger;
  if (!(USER_TRIGGERS as readonly string[]).includes(trigger)) {
    throw new SnapgovError('USAGE', `unknown trigger ${JSON.stringify(opts.trigger)}`, `use one of ${USER_TRIGGERS.join(', ')}`);
  }
  const labels = parseLabels(opts.label ?? []);
  const time = parseTime(opts.time);
  const tags = [...new Set(opts.tag ?? [])];
  if (tags.some((t) => t.trim() === '')) throw new SnapgovError('USAGE', 'empty --tag', 'give every tag a name');
  // What is recorded is printed later by list, info and audit: no terminal control sequences in it.
  const controlled = [...tags.map((t) => ['--tag', t]), ...Object.entries(labels).map(([k, v]) => ['--label', `${k}=${v}`]), ...(opts.env !== undefined ? [['--env', opts.env]] : [])].find(([, v]) => hasControl(v!));
  if (controlled) throw new SnapgovError('USAGE', `${controlled[0]} ${JSON.stringify(controlled[1])} holds a control character`, 'use printable characters only');
  if (opts.message !== undefined && hasControl(opts.message, true)) throw new SnapgovError('USAGE', `--message ${JSON.stringify(opts.message)} holds a control character`, 'use printable characters (line breaks and tabs are fine)');
  const { ws, layout } = await openStore(g);
  if (opts.dryRun) {
    // A shared lock: the tree is read, nothing is written (no objects, no stat cache, no audit line).
    const { entries: _e, ...preview } = await withLock(g, layout, 'shared', 'create', () => previewSnapshot(ws, layout, { trigger, allowPartial: opts.allowPartial, allowInconsistentIndex: opts.allowInconsistentIndex }));
    return finish({ ...preview, dryRun: true, durationMs: performance.now() - started });
  }
  // The key is loaded and unlocked before anything is written: a key problem leaves no unsigned snapshot.
  const sign = opts.sign ? await import('../signing/signer.js') : null;
  const signer = sign ? await sign.prepareSigner(ws, { ask: canAsk(g.json) }) : null;
  const { taken, signature } = await withLock(g, layout, 'exclusive', 'create', async (lock) => {
    const t = await takeSnapshot(ws, layout, lock, { trigger, env: opts.env, tags, labels, message: opts.message, time, allowPartial: opts.allowPartial, allowInconsistentIndex: opts.allowInconsistentIndex });
    // Signed under the same lock, with the configured default signer (the crypto loads only then).
    const s = sign && signer ? await sign.signSnapshot(layout, t.id, signer) : undefined;
    return { taken: t, signature: s && { type: s.type, method: s.method, signer: s.signer, file: s.file } };
  });
  const { entries: _entries, ...result } = taken;
  return finish({ ...result, ...(signature ? { signature } : {}), durationMs: performance.now() - started });

  function finish(r: CreateResult): Outcome<CreateResult> {
    r.durationMs = Math.round(r.durationMs);
    const warnings = r.skipped.map((s) => `skipped ${s.path}: ${s.reason}`);
    if (r.index && !r.index.consistent) warnings.push(`the artifact index is inconsistent (${r.index.problems?.length ?? 0} problem(s)); recorded in the metadata`);
    if (!r.created && !r.dryRun && (tags.length || opts.message || Object.keys(labels).length)) warnings.push('the tree is unchanged, so no snapshot was made and --tag/--label/--message were not recorded (add tags and labels to the existing one with snapgov tag latest TAG --label KEY=VALUE)');
    return outcome(r, renderCreate, r.incomplete ? EXIT_PARTIAL : 0, warnings);
  }
}

function renderCreate(r: CreateResult, s: ChalkInstance): string {
  const head = r.dryRun
    ? r.created
      ? `${s.cyan('would create')} snapshot ${s.bold(shortId(r.id))} (dry run: nothing was written)`
      : `${s.cyan('unchanged')}: the tree is already snapshot ${s.bold(shortId(r.id))} (dry run)`
    : r.created
      ? `${s.green('created')} snapshot ${s.bold(shortId(r.id))}`
      : `${s.cyan('unchanged')}: the tree is already snapshot ${s.bold(shortId(r.id))}`;
  const lines = [head + (r.incomplete ? s.yellow(' (incomplete)') : ''), `  id:     ${r.id}`, `  files:  ${r.files} (${formatBytes(r.bytes)}), new data ${formatBytes(r.newBytes)}`];
  if (r.index) lines.push(`  index:  ${r.index.path}, ${r.index.artifacts} artifact(s), ${r.index.consistent ? 'consistent' : s.yellow('inconsistent')}`);
  if (r.signature) lines.push(`  signed: ${r.signature.type === 'pgp' ? 'OpenPGP' : `Sigstore ${r.signature.method}`} ${r.signature.signer}`);
  lines.push(`  took:   ${(r.durationMs / 1000).toFixed(2)} s`);
  return lines.join('\n');
}
