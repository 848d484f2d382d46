import type { ChalkInstance } from 'chalk';
import type { Intent, PolicyResult, Verdict } from '../core/promotion-policy.js';
import { shortId } from '../core/ref.js';
import { SnapgovError } from '../errors.js';
import { outcome, type GlobalOptions, type Outcome } from '../output.js';
import { environmentPolicy, evaluate, loadPrincipals, readApprovals, recordApproval, type RecordedApproval, type StatementReport } from '../governance/approvals.js';
import { pinFacts } from '../governance/history.js';
import { prepareStatementSigner, type SignOptions } from '../signing/signer.js';
import { openStore, resolveSnapshot, withLock } from '../store/open.js';
import { parseDuration } from '../util/duration.js';
import { canAsk } from '../util/prompt.js';

export interface ApproveOptions extends Pick<SignOptions, 'pgpKey' | 'passphraseFile' | 'sigstoreKey'> {
  env?: string;
  role?: string;
  reason?: string;
  expires?: string;
  rollback?: boolean;
}

export type ApproveResult = RecordedApproval;

function required(value: string | undefined, flag: string, example: string): string {
  if (!value) throw new SnapgovError('USAGE', `${flag} is required`, `for example ${example}`);
  return value;
}

async function decide(verdict: Verdict, ref: string, o: ApproveOptions, g: GlobalOptions): Promise<Outcome<ApproveResult>> {
  const store = await openStore(g);
  const environment = required(o.env, '--env', `snapgov ${verdict} ${ref} --env production --role approver`);
  const role = required(o.role, '--role', `snapgov ${verdict} ${ref} --env ${environment} --role approver`);
  environmentPolicy(store.ws, environment);
  const expiresInMs = o.expires !== undefined ? parseDuration(o.expires, '--expires') : null;
  // The key is loaded and unlocked before the lock is taken and anything is written.
  const sign = await prepareStatementSigner(store.ws, { pgpKey: o.pgpKey, passphraseFile: o.passphraseFile, sigstoreKey: o.sigstoreKey, ask: canAsk(g.json) });
  return withLock(g, store.layout, 'exclusive', verdict, async (lock) => {
    const { id } = await resolveSnapshot(store.layout, ref);
    lock.assertHeld();
    const r = await recordApproval(store.ws, store.layout, id, sign, { environment, role, verdict, intent: o.rollback ? 'rollback' : 'promote', reason: o.reason ?? null, expiresInMs });
    return outcome(r, renderApproval);
  });
}

export const approve = (ref: string, o: ApproveOptions, g: GlobalOptions) => decide('approve', ref, o, g);
export const reject = (ref: string, o: ApproveOptions, g: GlobalOptions) => decide('reject', ref, o, g);

function renderApproval(r: ApproveResult, s: ChalkInstance): string {
  const what = r.verdict === 'approve' ? s.green('approved') : s.red('rejected');
  return `${what} ${s.bold(shortId(r.id))} for ${r.environment} as ${r.role} (${r.principal}, key ${r.signer})${r.intent === 'rollback' ? ', for a rollback' : ''}${r.expiresAt ? `; valid until ${r.expiresAt}` : ''}\n  statement: ${r.file} (${r.digest})`;
}

export interface ApprovalsOptions {
  env?: string;
  rollback?: boolean;
}

export interface ApprovalsResult {
  id: string;
  intent: Intent;
  /** Principals who signed the snapshot: none of them can approve it. */
  editors: string[];
  statements: StatementReport[];
  environments: ({ name: string } & Omit<PolicyResult, 'validUntil'> & { validUntil: string | null })[];
}

export async function approvals(ref: string, o: ApprovalsOptions, g: GlobalOptions): Promise<Outcome<ApprovalsResult>> {
  const store = await openStore(g);
  const names = o.env ? [o.env] : Object.keys(store.ws.config.environments);
  for (const n of names) environmentPolicy(store.ws, n);
  const intent: Intent = o.rollback ? 'rollback' : 'promote';
  return withLock(g, store.layout, 'shared', 'approvals', async () => {
    const { id } = await resolveSnapshot(store.layout, ref);
    const found = await readApprovals(store.layout, id, await loadPrincipals(store.ws));
    const now = Date.now();
    const environments = names.map((name) => {
      const r = evaluate(store.ws, store.layout, id, name, intent, found, pinFacts(store.layout, id, name), null, now);
      return { name, ...r, validUntil: r.validUntil !== null ? new Date(r.validUntil).toISOString() : null };
    });
    return outcome({ id, intent, editors: found.editors, statements: found.statements, environments }, renderApprovals);
  });
}

function renderApprovals(r: ApprovalsResult, s: ChalkInstance): string {
  const lines = [`${s.bold(shortId(r.id))}${r.editors.length ? ` (signed by ${r.editors.join(', ')})` : ''}`];
  for (const st of r.statements) {
    const head = st.valid ? (st.verdict === 'approve' ? s.green('approve') : s.red('reject ')) : s.yellow('ignored');
    lines.push(`  ${head} ${st.environment ?? '?'} ${st.role ?? '?'} by ${st.principal ?? st.signer ?? 'unknown'}${st.issuedAt ? ` at ${st.issuedAt}` : ''}${st.problem ? `: ${st.problem}` : ''}`);
  }
  if (r.statements.length === 0) lines.push('  no approvals yet');
  for (const e of r.environments) {
    const verdict = e.decision === 'allow' ? s.green('allowed') : e.decision === 'defer' ? s.yellow('waiting') : s.red('denied');
    lines.push(`${e.name}: ${verdict}${e.decision === 'allow' && e.validUntil ? ` until ${e.validUntil}` : ''}`);
    for (const sl of e.slots) if (sl.principals.length) lines.push(`  ${sl.role}: ${sl.principals.join(', ')}`);
    for (const f of e.failures) lines.push(`  ${s.red(f.code)} ${f.message}`);
    for (const i of e.ignored) lines.push(`  ${s.dim(`not counted: ${i.ref}: ${i.why}`)}`);
  }
  return lines.join('\n');
}
