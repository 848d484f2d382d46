import type { ChalkInstance } from 'chalk';
import { shortId } from '../core/ref.js';
import { EXIT_STATUS, SnapgovError } from '../errors.js';
import { outcome, type GlobalOptions, type Outcome } from '../output.js';
import { environmentPolicy } from '../governance/approvals.js';
import { environmentState } from '../governance/history.js';
import { promote as promoteSnapshot, resumeEnvironment, type PromoteResult, type ResumeResult } from '../governance/pins.js';
import { prepareStatementSigner, type SignOptions } from '../signing/signer.js';
import { openStore, resolveSnapshot, withLock, type Store } from '../store/open.js';
import { pinnedEnvironments } from '../store/pins.js';
import { canAsk } from '../util/prompt.js';
import { verifySnapshots } from '../verify/verify.js';

export interface PromoteOptions extends Pick<SignOptions, 'pgpKey' | 'passphraseFile' | 'sigstoreKey'> {
  env?: string;
  runId?: string;
  reason?: string;
  rollback?: boolean;
  breakGlass?: boolean;
  readData?: boolean;
}

export async function promote(ref: string, o: PromoteOptions, g: GlobalOptions): Promise<Outcome<PromoteCmdResult>> {
  const store = await openStore(g);
  if (!o.env) throw new SnapgovError('USAGE', '--env is required', `for example snapgov promote ${ref} --env staging`);
  environmentPolicy(store.ws, o.env);
  if (o.runId !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(o.runId)) throw new SnapgovError('USAGE', `--run-id ${JSON.stringify(o.runId)} is not a run id`, 'letters, digits, ".", "_", ":" and "-", at most 128');
  const key = await prepareStatementSigner(store.ws, { pgpKey: o.pgpKey, passphraseFile: o.passphraseFile, sigstoreKey: o.sigstoreKey, ask: canAsk(g.json) });
  const { id } = await resolveSnapshot(store.layout, ref);
  // Verification takes a shared lock of its own, so it runs before the exclusive one.
  const v = await verifySnapshots(g, store, [id], { readData: !!o.readData });
  const verification = { ok: v.ok, readData: !!o.readData, problems: v.snapshots.flatMap((s) => s.problems.map((p) => `${p.code} ${p.path}`.trim())) };
  const r = await withLock(g, store.layout, 'exclusive', 'promote', async (lock) => {
    await resolveSnapshot(store.layout, id); // still there (prune may have run in between)
    lock.assertHeld();
    return promoteSnapshot(store.ws, store.layout, id, key, { environment: o.env!, runId: o.runId ?? null, reason: o.reason ?? null, rollback: !!o.rollback, breakGlass: !!o.breakGlass, verification });
  });
  const tag = r.decision === 'allow' ? await moveRemoteTag(store, g, o.env, id) : null;
  const code = r.decision === 'allow' ? (tag?.error ? 1 : 0) : r.decision === 'defer' ? EXIT_STATUS.PROMOTION_DEFERRED : EXIT_STATUS.PROMOTION_DENIED;
  return outcome({ ...r, remoteTag: tag }, renderPromote, code);
}

/**
 * With `environments.NAME.remote`, the registry tag named after the environment follows its pin:
 * the snapshot is pushed there (only what the registry lacks) and the tag moved. Done after the pin
 * and its audit record, so a registry that is down never blocks or undoes a promotion: the result
 * says so (exit 1), and the same promote again (or `snapgov push REF REMOTE:ENV`) moves the tag.
 */
async function moveRemoteTag(store: Store, g: GlobalOptions, env: string, id: string): Promise<RemoteTagResult | null> {
  const name = store.ws.config.environments[env]!.remote;
  if (name === null) return null;
  const [{ parseRemote }, { pushTag }] = await Promise.all([import('../remote/reference.js'), import('../remote/push.js')]);
  const ref = parseRemote(`${name}:${env}`, store.ws);
  try {
    const pushed = await pushTag(g, store, ref, id);
    return { remote: ref.display, digest: pushed.digest, error: null };
  } catch (e) {
    if (!(e instanceof SnapgovError)) throw e;
    return { remote: ref.display, digest: null, error: `${e.message} (${e.hint})` };
  }
}

export interface RemoteTagResult {
  /** The remote and tag moved, as `NAME:ENV`. */
  remote: string;
  digest: string | null;
  /** Why the tag could not be moved (the promotion itself stands). */
  error: string | null;
}

export type PromoteCmdResult = PromoteResult & { remoteTag: RemoteTagResult | null };

function renderPromote(r: PromoteCmdResult, s: ChalkInstance): string {
  const lines: string[] = [];
  if (r.breakGlass && r.decision === 'allow' && !r.unchanged) {
    lines.push(s.bgRed.white.bold(' BREAK GLASS ') + s.red(` ${r.operator} moved ${r.environment} without the policy; recorded in the decision, the pin and the audit log (break-glass)`));
    for (const f of r.bypassed) lines.push(`  ${s.yellow('passed over')} ${f.code} ${f.message}`);
  }
  if (r.decision === 'allow') {
    if (r.replayed) lines.push(`${s.green('already done')}: run ${r.runId} pinned ${r.environment} to ${shortId(r.snapshot)} (pin ${r.seq})`);
    else if (r.unchanged) lines.push(`${s.green('unchanged')}: ${r.environment} is pinned to ${shortId(r.snapshot)} (pin ${r.seq})`);
    else lines.push(`${s.green(r.intent === 'rollback' ? 'rolled back' : 'promoted')} ${s.bold(shortId(r.snapshot))} to ${r.environment} (pin ${r.seq}${r.previous ? `, was ${shortId(r.previous)}` : ''}); decision ${r.decisionRef}`);
  } else lines.push(`${r.decision === 'defer' ? s.yellow('deferred') : s.red('denied')}: ${shortId(r.snapshot)} to ${r.environment}; nothing was changed`);
  for (const sl of r.slots) if (sl.principals.length) lines.push(`  ${sl.role}: ${sl.principals.join(', ')}`);
  for (const f of r.failures) lines.push(`  ${s.red(f.code)} ${f.message}`);
  for (const i of r.ignored) lines.push(`  ${s.dim(`not counted: ${i.ref}: ${i.why}`)}`);
  if (r.remoteTag) lines.push(r.remoteTag.error ? `  ${s.red('registry tag not moved')}: ${r.remoteTag.remote}: ${r.remoteTag.error}; promote again with the same --run-id to retry` : `  registry tag ${r.remoteTag.remote} -> ${r.remoteTag.digest}`);
  return lines.join('\n');
}

export interface EnvListResult {
  environments: { name: string; seq: number | null; snapshot: string | null; since: string | null; by: string | null; breakGlass: boolean; pendingAudit: boolean }[];
}

export async function envList(_o: object, g: GlobalOptions): Promise<Outcome<EnvListResult>> {
  const { ws, layout } = await openStore(g);
  const names = [...new Set([...Object.keys(ws.config.environments), ...pinnedEnvironments(layout)])].sort();
  const environments = names.map((name) => {
    const st = environmentState(layout, name);
    const last = st.pins.at(-1)?.entry;
    return { name, seq: last?.seq ?? null, snapshot: last?.snapshot ?? null, since: last?.time ?? null, by: last?.principal ?? null, breakGlass: last?.breakGlass ?? false, pendingAudit: st.pendingAudit };
  });
  return outcome({ environments }, (r, s) => r.environments.map((e) => `${s.bold(e.name.padEnd(14))} ${e.snapshot ? `${shortId(e.snapshot)}  pin ${e.seq}  since ${e.since} by ${e.by}` : s.dim('no pin yet')}${e.breakGlass ? s.red('  (break-glass)') : ''}${e.pendingAudit ? s.red('  (pending audit: snapgov env resume)') : ''}`).join('\n') || 'no environments');
}

export interface EnvHistoryResult {
  environment: string;
  pins: { seq: number; snapshot: string; previous: string | null; intent: 'promote' | 'rollback'; breakGlass: boolean; time: string; principal: string; runId: string; reason: string | null; decision: string; file: string }[];
}

export async function envHistory(name: string, _o: object, g: GlobalOptions): Promise<Outcome<EnvHistoryResult>> {
  const { layout } = await openStore(g);
  const pins = environmentState(layout, name).pins.map((p) => ({ seq: p.entry.seq, snapshot: p.entry.snapshot, previous: p.entry.previous, intent: p.entry.intent, breakGlass: p.entry.breakGlass, time: p.entry.time, principal: p.entry.principal, runId: p.entry.runId, reason: p.entry.reason, decision: p.entry.decision, file: p.file }));
  return outcome({ environment: name, pins }, (r, s) => r.pins.map((p) => `${String(p.seq).padStart(4)}  ${s.bold(shortId(p.snapshot))}  ${p.time}  ${p.intent.padEnd(8)} ${p.breakGlass ? s.red('BREAK-GLASS ') : ''}${p.principal}  run ${p.runId}${p.reason ? `  "${p.reason}"` : ''}`).join('\n') || `${r.environment} has no pins yet`);
}

export type EnvResumeResult = ResumeResult;

export async function envResume(name: string, _o: object, g: GlobalOptions): Promise<Outcome<EnvResumeResult>> {
  const { ws, layout } = await openStore(g);
  const r = await withLock(g, layout, 'exclusive', 'env-resume', () => resumeEnvironment(ws, layout, name));
  return outcome(r, (x, s) => (x.resumed ? `${s.green('resumed')}: pin ${x.seq} of ${x.environment} is in the audit log now` : `${x.environment} has nothing pending`));
}
