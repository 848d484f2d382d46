import type { ChalkInstance } from 'chalk';
import type { AuditRecord, ChainProblem } from '../core/audit-chain.js';
import { shortId } from '../core/ref.js';
import { SnapgovError } from '../errors.js';
import { outcome, type GlobalOptions, type Outcome } from '../output.js';
import { resolve } from 'node:path';
import { refuseOutputPath } from '../archive/output-path.js';
import { reviewDecisions, type DecisionReview } from '../governance/decisions.js';
import { checkCheckpoints, writeCheckpoint, type Checkpoint, type CheckpointCheck } from '../governance/checkpoint.js';
import { prepareStatementSigner, type SignOptions } from '../signing/signer.js';
import { readAuditLines, verifyAudit } from '../store/audit-log.js';
import { openStore, withLock } from '../store/open.js';
import { canAsk } from '../util/prompt.js';

export interface AuditListResult {
  entries: (AuditRecord | { line: number; unparsable: string })[];
}

export interface AuditVerifyResult {
  ok: boolean;
  entries: number;
  problems: ChainProblem[];
  /** The checkpoints kept in the store and those named with --checkpoint, each checked against the log. */
  checkpoints: CheckpointCheck[];
  /** With --decisions: every pin's decision judged again; null otherwise. */
  decisions: DecisionReview[] | null;
}

export async function auditList(opts: { limit?: string }, g: GlobalOptions): Promise<Outcome<AuditListResult>> {
  if (opts.limit !== undefined && !/^\d+$/.test(opts.limit)) throw new SnapgovError('USAGE', `--limit ${JSON.stringify(opts.limit)} is not a whole number`, 'for example --limit 20');
  const { layout } = await openStore(g);
  let lines = readAuditLines(layout).map((line, i) => {
    try {
      return JSON.parse(line) as AuditRecord;
    } catch {
      return { line: i + 1, unparsable: line };
    }
  });
  if (opts.limit !== undefined) lines = Number(opts.limit) === 0 ? [] : lines.slice(-Number(opts.limit));
  return outcome({ entries: lines }, renderList);
}

function renderList(r: AuditListResult, s: ChalkInstance): string {
  if (r.entries.length === 0) return 'the audit log is empty';
  return r.entries
    .map((e) => {
      if ('unparsable' in e) return s.red(`line ${e.line}: not JSON`);
      const ids = [e.from && `from ${shortId(e.from)}`, e.to && `to ${shortId(e.to)}`, e.snapshots?.length ? e.snapshots.map(shortId).join(',') : ''].filter(Boolean).join(' ');
      const out = e.outcome === 'success' ? s.green(e.outcome) : s.yellow(e.outcome);
      return `${String(e.seq).padStart(5)}  ${e.time}  ${e.actor.user}@${e.actor.host}  ${s.bold(e.action)} ${ids} ${out}${e.reason ? `  "${e.reason}"` : ''}`;
    })
    .join('\n');
}

export async function auditVerify(opts: { checkpoint?: string[]; decisions?: boolean }, g: GlobalOptions): Promise<Outcome<AuditVerifyResult>> {
  const { ws, layout } = await openStore(g);
  const chain = await verifyAudit(layout);
  const checkpoints = await checkCheckpoints(ws, layout, (opts.checkpoint ?? []).map((f) => resolve(f)));
  const decisions = opts.decisions ? await reviewDecisions(ws, layout) : null;
  const res = { ...chain, checkpoints, decisions, ok: chain.ok && checkpoints.every((c) => c.ok) && (decisions ?? []).every((d) => d.ok) };
  return outcome(res, renderVerify, res.ok ? 0 : 1);
}

function renderVerify(r: AuditVerifyResult, s: ChalkInstance): string {
  const lines = [r.problems.length === 0 ? s.green(`audit log intact: ${r.entries} entries, hash chain verified`) : s.red(`audit log damaged: ${r.problems.length} problem(s)`), ...r.problems.map((p) => `  line ${p.line}: ${p.message}`)];
  for (const d of r.decisions ?? []) {
    const what = `decision of ${d.environment} pin ${d.seq}${d.breakGlass ? ' (break-glass)' : ''}`;
    if (!d.ok) lines.push(`  ${s.red(what)}: ${d.problems.join('; ')}`);
    else lines.push(`  ${s.green(what)}: ${d.policyChanged ? 'signed and its approvals intact (the policy has changed since: not evaluated again)' : 'holds when evaluated again'}`);
  }
  for (const c of r.checkpoints) lines.push(c.ok ? `  ${s.green('checkpoint')} ${c.file}: lines 1..${c.seq} as ${c.principal} signed them at ${c.checkpointedAt}` : `  ${s.red('checkpoint')} ${c.file}: ${c.problem}`);
  return lines.join('\n');
}

export interface AuditCheckpointOptions extends Pick<SignOptions, 'pgpKey' | 'passphraseFile' | 'sigstoreKey'> {
  output?: string;
}

export type AuditCheckpointResult = Checkpoint;

export async function auditCheckpoint(o: AuditCheckpointOptions, g: GlobalOptions): Promise<Outcome<AuditCheckpointResult>> {
  const store = await openStore(g);
  const file = o.output ? resolve(o.output) : null;
  if (file) refuseOutputPath(store, file, '-o');
  const key = await prepareStatementSigner(store.ws, { pgpKey: o.pgpKey, passphraseFile: o.passphraseFile, sigstoreKey: o.sigstoreKey, ask: canAsk(g.json) });
  const r = await withLock(g, store.layout, 'shared', 'audit-checkpoint', () => writeCheckpoint(store.ws, store.layout, key, file));
  return outcome(r, (c, s) => `${s.green('checkpoint')} of lines 1..${c.seq} (${c.hash}) signed by ${c.principal}: ${c.file}\n  check by hand: head -n ${c.seq} metadata/audit.log | sha256sum  →  ${c.logSha256.slice(7)}`);
}
