import type { ChalkInstance } from 'chalk';
import type { AuditRecord, ChainProblem } from '../core/audit-chain.js';
import { shortId } from '../core/ref.js';
import { SnapgovError } from '../errors.js';
import { outcome, type GlobalOptions, type Outcome } from '../output.js';
import { readAuditLines, verifyAudit } from '../store/audit-log.js';
import { openStore } from '../store/open.js';

export interface AuditListResult {
  entries: (AuditRecord | { line: number; unparsable: string })[];
}

export interface AuditVerifyResult {
  ok: boolean;
  entries: number;
  problems: ChainProblem[];
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

export async function auditVerify(_opts: object, g: GlobalOptions): Promise<Outcome<AuditVerifyResult>> {
  const { layout } = await openStore(g);
  const res = await verifyAudit(layout);
  return outcome(res, (r, s) => (r.ok ? s.green(`audit log intact: ${r.entries} entries, hash chain verified`) : [s.red(`audit log damaged: ${r.problems.length} problem(s)`), ...r.problems.map((p) => `  line ${p.line}: ${p.message}`)].join('\n')), res.ok ? 0 : 1);
}
