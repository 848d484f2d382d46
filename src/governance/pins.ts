// Promotion: the policy judged, a signed decision, the next pin of the environment and its audit
// record; resuming a promotion that stopped before its record; following a pin.
import { createHash, randomUUID } from 'node:crypto';
import type { Workspace } from '../config/config.js';
import { statement } from '../core/dsse.js';
import type { Failure, Intent, PolicyResult } from '../core/promotion-policy.js';
import { shortId } from '../core/ref.js';
import { SnapgovError } from '../errors.js';
import { verifyStatement, type StatementKey } from '../signing/statements.js';
import { appendAudit } from '../store/audit-log.js';
import type { StoreLayout } from '../store/layout.js';
import { writePin, type PinEntry, type StoredPin } from '../store/pins.js';
import { loadHistory } from '../store/snapshots.js';
import { readDecision, writeDecision } from '../store/statements.js';
import { faultPoint } from '../util/fault.js';
import { environmentPolicy, evaluate, loadPrincipals, readApprovals, signingPrincipal, type Principals } from './approvals.js';
import { environmentState, pinFacts } from './history.js';

export const DECISION_PREDICATE = 'https://snapgov.dev/attestation/promotion-decision/v1';

export interface PromoteRequest {
  environment: string;
  runId: string | null;
  reason: string | null;
  rollback: boolean;
  /** Promote or roll back without approvals, path or rehearsal: a break-glass principal of the environment, with a reason. */
  breakGlass: boolean;
  /** What verification found (run before the exclusive lock: it takes a shared one). */
  verification: { ok: boolean; readData: boolean; problems: string[] };
}

export interface PromoteResult {
  environment: string;
  snapshot: string;
  intent: Intent;
  decision: 'allow' | 'deny' | 'defer';
  /** The same run id and snapshot were promoted before: nothing new was written. */
  replayed: boolean;
  /** The environment was already pinned to the snapshot. */
  unchanged: boolean;
  runId: string;
  seq: number | null;
  previous: string | null;
  failures: Failure[];
  breakGlass: boolean;
  /** With --break-glass: the conditions of the policy that did not hold and were passed over. */
  bypassed: Failure[];
  slots: PolicyResult['slots'];
  ignored: PolicyResult['ignored'];
  counted: string[];
  decisionRef: string | null;
  pinFile: string | null;
  operator: string;
}

const deny = (code: Failure['code'], message: string): Failure => ({ code, message });

/**
 * Decides a promotion and, when allowed, moves the pin: the signed decision first, then the pin
 * entry, then its audit record. Nothing is written for a deny or a defer. Under the caller's
 * exclusive lock.
 */
export async function promote(ws: Workspace, layout: StoreLayout, id: string, key: StatementKey, req: PromoteRequest): Promise<PromoteResult> {
  environmentPolicy(ws, req.environment);
  const state = environmentState(layout, req.environment);
  const current = state.pins.at(-1) ?? null;
  const runId = req.runId ?? randomUUID();
  if (state.pendingAudit) {
    // The same run retried after it stopped between its pin and its record: finish it.
    if (current && current.entry.runId === runId && current.entry.snapshot === id) {
      await checkPinDecision(ws, layout, current);
      await appendPinRecord(layout, current);
      return { environment: req.environment, snapshot: id, intent: current.entry.intent, runId, previous: current.entry.previous, operator: current.entry.principal, slots: [], ignored: [], counted: [], decisionRef: current.entry.decision, pinFile: current.file, decision: 'allow', replayed: true, unchanged: true, seq: current.entry.seq, failures: [], breakGlass: current.entry.breakGlass, bypassed: [] };
    }
    throw new SnapgovError('PENDING_AUDIT', `the last pin of ${req.environment} has no audit record yet`, `run \`snapgov env resume ${req.environment}\` (or the same promote with its run id ${current?.entry.runId}) to append it, then promote again`);
  }
  const intent: Intent = req.rollback ? 'rollback' : 'promote';
  // The operator is whoever signs the decision.
  const principals = await loadPrincipals(ws);
  const operator = await signingPrincipal(ws, key, principals);
  if (req.breakGlass) {
    // The environment names its break-glass principals; they need not be operators.
    const allowed = ws.config.environments[req.environment]!.breakGlass;
    if (!allowed.includes(operator)) throw new SnapgovError('NOT_AUTHORIZED', `${operator} may not break glass in ${req.environment}`, allowed.length ? `the environment's breakGlass list holds ${allowed.join(', ')}; nothing was changed` : `${req.environment} has no breakGlass principals in snapgov.json; nothing was changed`);
    if (!req.reason) throw new SnapgovError('USAGE', 'breaking glass needs a reason', 'pass --reason TEXT (an incident number, what is on fire); it goes into the decision, the pin and the audit log');
  } else {
    const operators = ws.config.roles.operator;
    if (operators && !operators.includes(operator)) throw new SnapgovError('NOT_AUTHORIZED', `${operator} does not hold the role operator`, `the role is held by ${operators.join(', ')}; nothing was changed`);
  }
  const base = { environment: req.environment, snapshot: id, intent, runId, previous: current?.entry.snapshot ?? null, operator, slots: [], ignored: [], counted: [], decisionRef: null, pinFile: null, breakGlass: req.breakGlass, bypassed: [] };

  const earlier = state.pins.find((p) => p.entry.runId === runId);
  if (earlier) {
    if (earlier.entry.snapshot !== id) throw new SnapgovError('USAGE', `run ${runId} promoted ${shortId(earlier.entry.snapshot)} to ${req.environment} already, not ${shortId(id)}`, 'use a new --run-id for another snapshot; nothing was changed');
    return { ...base, decision: 'allow', replayed: true, unchanged: true, seq: earlier.entry.seq, previous: earlier.entry.previous, failures: [], decisionRef: earlier.entry.decision, pinFile: earlier.file, breakGlass: earlier.entry.breakGlass };
  }
  if (current?.entry.snapshot === id) return { ...base, decision: 'allow', replayed: false, unchanged: true, seq: current.entry.seq, failures: [], decisionRef: current.entry.decision, pinFile: current.file, breakGlass: false };

  const failures: Failure[] = [];
  if (!req.verification.ok) failures.push(deny('VERIFY_FAILED', `the snapshot does not verify: ${req.verification.problems.slice(0, 3).join('; ')}`));
  if (current) {
    const { snapshots } = await loadHistory(layout);
    const time = (x: string) => snapshots.find((s) => s.id === x)?.time ?? '';
    const older = time(id) < time(current.entry.snapshot);
    if (older && !req.rollback) failures.push(deny('ROLLBACK_NOT_INTENDED', `${shortId(id)} is older than what ${req.environment} is pinned to (${shortId(current.entry.snapshot)}): moving back is a rollback (--rollback, with a reason and an approval for it)`));
    if (!older && req.rollback) throw new SnapgovError('USAGE', `${shortId(id)} is not older than what ${req.environment} is pinned to`, 'promote it without --rollback');
  } else if (req.rollback) throw new SnapgovError('USAGE', `${req.environment} has no pin to roll back`, 'promote a snapshot first');
  if (req.rollback && !req.reason) throw new SnapgovError('USAGE', 'a rollback needs a reason', 'pass --reason TEXT');

  const found = await readApprovals(layout, id, principals);
  const evaluated = evaluate(ws, layout, id, req.environment, intent, found, pinFacts(layout, id, req.environment), operator);
  // Breaking glass passes over the policy (and says what it passed over), never over verification or intent.
  const bypassed = req.breakGlass ? evaluated.failures : [];
  if (!req.breakGlass) failures.push(...evaluated.failures);
  const decision = failures.length === 0 ? 'allow' : failures.every((f) => f.code === 'APPROVALS_MISSING') ? 'defer' : 'deny';
  const judged = { ...base, slots: evaluated.slots, ignored: evaluated.ignored, counted: evaluated.counted, failures, bypassed, replayed: false, unchanged: false };
  if (decision !== 'allow') return { ...judged, decision, seq: null };

  const now = new Date().toISOString();
  const inputs = found.statements.filter((s) => evaluated.counted.includes(s.file)).map((s) => ({ name: s.file, digest: { sha256: s.digest.slice('sha256:'.length) } }));
  const policyRef = { uri: `snapgov.json#/environments/${req.environment}`, digest: { sha256: policyDigest(ws, req.environment) } };
  const signed = await key.sign(
    statement(id, DECISION_PREDICATE, {
      decision: 'allow',
      runId,
      promotionType: intent,
      breakGlass: req.breakGlass,
      bypassed,
      environment: req.environment,
      snapshot: { id, sha256: id.slice('sha256:'.length) },
      transition: { fromSeq: current?.entry.seq ?? 0, from: current?.entry.snapshot ?? null, toSeq: (current?.entry.seq ?? 0) + 1 },
      policy: policyRef,
      inputs,
      signers: evaluated.slots.flatMap((s) => s.principals.map((p) => ({ principal: p, role: s.role }))),
      operator,
      reason: req.reason,
      decidedAt: now,
      validUntil: evaluated.validUntil !== null ? new Date(evaluated.validUntil).toISOString() : null,
      // A SLSA verification summary of what was checked before the decision.
      verification: { verifier: { id: 'https://snapgov.dev/verifier/v1' }, timeVerified: now, resourceUri: `snapgov:env/${req.environment}`, policy: policyRef, inputAttestations: inputs.map((i) => ({ uri: i.name, digest: i.digest })), verificationResult: 'PASSED', verifiedLevels: ['SNAPGOV_STRUCTURE', ...(req.verification.readData ? ['SNAPGOV_READ_DATA'] : []), ...(req.breakGlass ? [] : ['SNAPGOV_POLICY'])] },
    }),
  );
  const dec = writeDecision(layout, signed.text, signed.format);
  faultPoint('promote-decision');
  const entry: PinEntry = { format: 'snapgov-pin/1', environment: req.environment, seq: (current?.entry.seq ?? 0) + 1, snapshot: id, previous: current?.entry.snapshot ?? null, previousEntry: current?.digest ?? null, intent, breakGlass: req.breakGlass, time: now, principal: operator, runId, reason: req.reason, decision: dec.digest };
  const pin = writePin(layout, entry);
  faultPoint('promote-pin');
  await appendPinRecord(layout, pin);
  return { ...judged, decision: 'allow', seq: entry.seq, decisionRef: dec.digest, pinFile: pin.file };
}

/** What a decision was judged under: the environment's policy, the roles and the principals (hex SHA-256). */
export function policyDigest(ws: Workspace, env: string): string {
  const doc = { policy: environmentPolicy(ws, env), roles: ws.config.roles, principals: ws.config.principals };
  return createHash('sha256').update(JSON.stringify(doc)).digest('hex');
}

/** The pin's audit record; when it cannot be written the environment is pending audit, never wedged. */
async function appendPinRecord(layout: StoreLayout, pin: StoredPin): Promise<void> {
  const e = pin.entry;
  try {
    await appendAudit(layout, {
      action: e.breakGlass ? 'break-glass' : e.intent === 'rollback' ? 'env-rollback' : 'promote',
      ...(e.previous ? { from: e.previous } : {}),
      to: e.snapshot,
      ...(e.reason ? { reason: e.reason } : {}),
      outcome: 'success',
      details: { env: e.environment, seq: e.seq, pin: pin.digest, runId: e.runId, decision: e.decision, principal: e.principal, intent: e.intent },
    });
  } catch (err) {
    throw new SnapgovError('PENDING_AUDIT', `${e.environment} is pinned to ${shortId(e.snapshot)} (pin ${e.seq}), but its audit record could not be written: ${(err as Error).message}`, `fix the cause, then run \`snapgov env resume ${e.environment}\``, undefined, { cause: err });
  }
}

export interface ResumeResult {
  environment: string;
  /** Whether a missing audit record was appended. */
  resumed: boolean;
  seq: number | null;
}

/**
 * A pin file alone proves nothing: before its audit record is written after the fact, its decision
 * must exist, verify as signed by the principal the pin names, and be about this very transition.
 */
export async function checkPinDecision(ws: Workspace, layout: StoreLayout, pin: StoredPin, known?: Principals): Promise<Record<string, unknown>> {
  const e = pin.entry;
  const refuse = (why: string) => new SnapgovError('STORE_CORRUPT', `pin ${e.seq} of ${e.environment} is not backed by its decision: ${why}`, 'nothing was recorded; remove the pin file if it was not written by snapgov, and run `snapgov audit verify`');
  const d = readDecision(layout, e.decision);
  if (!d) throw refuse('the decision file is missing');
  const principals = known ?? (await loadPrincipals(ws));
  const check = await verifyStatement(d.text, d.format, principals, { predicateType: DECISION_PREDICATE, subject: e.snapshot });
  if (!check.ok) throw refuse(check.problem);
  if (check.digest !== e.decision) throw refuse('the decision file does not hash to the digest the pin names');
  if (principals.of(check.signer) !== e.principal) throw refuse(`the decision is signed by ${principals.of(check.signer) ?? check.signer.id}, the pin names ${e.principal}`);
  const p = check.statement.predicate as { environment?: unknown; transition?: { toSeq?: unknown }; runId?: unknown };
  if (p.environment !== e.environment || p.transition?.toSeq !== e.seq || p.runId !== e.runId) throw refuse('the decision is about another transition');
  return check.statement.predicate;
}

/** Appends the missing audit record of an environment's last pin. */
export async function resumeEnvironment(ws: Workspace, layout: StoreLayout, env: string): Promise<ResumeResult> {
  const state = environmentState(layout, env);
  const last = state.pins.at(-1);
  if (!state.pendingAudit || !last) return { environment: env, resumed: false, seq: last?.entry.seq ?? null };
  await checkPinDecision(ws, layout, last);
  await appendPinRecord(layout, last);
  return { environment: env, resumed: true, seq: last.entry.seq };
}

/** The snapshot an environment's pin names, from a history that matches the audit log. */
export function pinnedSnapshot(ws: Workspace, layout: StoreLayout, env: string): string {
  environmentPolicy(ws, env);
  const state = environmentState(layout, env);
  const last = state.pins.at(-1);
  if (!last) throw new SnapgovError('USAGE', `${env} has no pin yet`, `promote a snapshot first: snapgov promote REF --env ${env}`);
  if (state.pendingAudit) throw new SnapgovError('PENDING_AUDIT', `the last pin of ${env} has no audit record yet`, `run \`snapgov env resume ${env}\`, then follow the pin again`);
  // A pin without its decision is a pin without evidence: not followed.
  if (!readDecision(layout, last.entry.decision)) throw new SnapgovError('STORE_CORRUPT', `pin ${last.entry.seq} of ${env} names the decision ${last.entry.decision}, whose file is missing`, 'nothing was changed; run `snapgov audit verify` and restore metadata/decisions from a backup');
  return last.entry.snapshot;
}
