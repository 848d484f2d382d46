// Approvals and rejections: signed in-toto statements about one snapshot, for one environment and
// role, stored beside the snapshot and recorded in the audit log; and the evaluation of an
// environment's policy over them.
import type { KeyObject } from 'node:crypto';
import type { Key } from 'openpgp';
import type { Workspace } from '../config/config.js';
import { statement } from '../core/dsse.js';
import { evaluatePolicy, type Approval, type EnvironmentPolicy, type Intent, type PolicyResult, type Verdict } from '../core/promotion-policy.js';
import { shortId } from '../core/ref.js';
import { SnapgovError } from '../errors.js';
import { verifyPgp } from '../signing/pgp.js';
import { keyHint, verifyKeyBundle } from '../signing/sigstore.js';
import { verifyStatement, type StatementKey, type StatementSigner } from '../signing/statements.js';
import { loadPublicKeys } from '../signing/trust.js';
import { appendAudit, readAuditRecords } from '../store/audit-log.js';
import type { StoreLayout } from '../store/layout.js';
import { readManifestBytes, readMetadata } from '../store/snapshots.js';
import { readStatements, writeStatement } from '../store/statements.js';
import type { PinFacts } from './history.js';

export const APPROVAL_PREDICATE = 'https://snapgov.dev/attestation/approval/v1';

export interface ApprovalPredicate {
  environment: string;
  role: string;
  verdict: Verdict;
  intent: Intent;
  reason: string | null;
  issuedAt: string;
  expiresAt: string | null;
}

/** The principals of snapgov.json with their public keys: who a signer is. */
export interface Principals {
  pgp: Key[];
  sigstore: KeyObject[];
  /** The principal whose key made a signature, or null. */
  of(signer: StatementSigner): string | null;
}

export async function loadPrincipals(ws: Workspace): Promise<Principals> {
  const owner = new Map<string, string>();
  const pgp: Key[] = [];
  const sigstore: KeyObject[] = [];
  for (const [name, p] of Object.entries(ws.config.principals)) {
    const keys = await loadPublicKeys(ws, p, `key of principal ${name}`);
    for (const k of keys.pgp) {
      const id = `pgp:${k.getFingerprint().toUpperCase()}`;
      // One key, one person: a key listed under two principals would let one person fill two slots.
      if (owner.has(id) && owner.get(id) !== name) throw new SnapgovError('CONFIG_INVALID', `the OpenPGP key ${id.slice(4)} belongs to two principals, ${owner.get(id)} and ${name}`, 'give each key to one principal in snapgov.json');
      owner.set(id, name);
      pgp.push(k);
    }
    for (const k of keys.sigstore) {
      const id = `sigstore:${keyHint(k)}`;
      if (owner.has(id) && owner.get(id) !== name) throw new SnapgovError('CONFIG_INVALID', `the Sigstore key ${id.slice(9)} belongs to two principals, ${owner.get(id)} and ${name}`, 'give each key to one principal in snapgov.json');
      owner.set(id, name);
      sigstore.push(k);
    }
  }
  return { pgp, sigstore, of: (s) => owner.get(`${s.type}:${s.id}`) ?? null };
}

/** The principal a signing key belongs to; refused (nothing written) when it is nobody's. */
export async function signingPrincipal(ws: Workspace, key: StatementKey, known?: Principals): Promise<string> {
  const principal = (known ?? (await loadPrincipals(ws))).of(key.signer);
  if (principal === null) throw new SnapgovError('NOT_AUTHORIZED', `the signing key ${key.signer.id} belongs to no principal in snapgov.json`, 'add the key to a principal ("principals" in snapgov.json) or sign with your own key; nothing was written');
  return principal;
}

export function environmentPolicy(ws: Workspace, name: string): EnvironmentPolicy {
  const e = ws.config.environments[name];
  if (!e) {
    const known = Object.keys(ws.config.environments);
    throw new SnapgovError('USAGE', `there is no environment ${JSON.stringify(name)}`, known.length ? `use one of ${known.join(', ')}` : 'define environments in snapgov.json (see the README, Governance)');
  }
  return { name, requires: e.requires, rollbackRequires: e.rollbackRequires, approvalMaxAgeMs: e.approvalMaxAgeMs, after: e.after, rehearsalMaxAgeMs: e.rehearsalMaxAgeMs };
}

export interface ApprovalRequest {
  environment: string;
  role: string;
  verdict: Verdict;
  intent: Intent;
  reason: string | null;
  expiresInMs: number | null;
}

export interface RecordedApproval {
  id: string;
  environment: string;
  role: string;
  verdict: Verdict;
  intent: Intent;
  principal: string;
  signer: string;
  /** The statement file, relative to the metadata folder, and the SHA-256 of its bytes. */
  file: string;
  digest: string;
  issuedAt: string;
  expiresAt: string | null;
}

/**
 * Signs and stores an approval or rejection, under the caller's exclusive lock. Refused before
 * anything is written when the signer is no principal or does not hold the role. The statement file
 * comes first, then its audit record: an approval without its record does not count, a rejection
 * counts from either.
 */
export async function recordApproval(ws: Workspace, layout: StoreLayout, id: string, key: StatementKey, req: ApprovalRequest): Promise<RecordedApproval> {
  environmentPolicy(ws, req.environment);
  const holders = ws.config.roles[req.role];
  if (!holders) throw new SnapgovError('USAGE', `there is no role ${JSON.stringify(req.role)}`, `use one of ${Object.keys(ws.config.roles).join(', ') || '(none: define "roles" in snapgov.json)'}`);
  const issued = new Date();
  const predicate: ApprovalPredicate = {
    environment: req.environment,
    role: req.role,
    verdict: req.verdict,
    intent: req.intent,
    reason: req.reason,
    issuedAt: issued.toISOString(),
    expiresAt: req.expiresInMs !== null ? new Date(issued.getTime() + req.expiresInMs).toISOString() : null,
  };
  const principal = await signingPrincipal(ws, key);
  if (!holders.includes(principal)) throw new SnapgovError('NOT_AUTHORIZED', `${principal} does not hold the role ${req.role}`, `the role is held by ${holders.join(', ') || 'nobody'}; nothing was written`);
  const signed = await key.sign(statement(id, APPROVAL_PREDICATE, predicate));
  const { file, digest } = writeStatement(layout, id, signed.text, signed.format);
  await appendAudit(layout, {
    action: req.verdict,
    to: id,
    ...(req.reason ? { reason: req.reason } : {}),
    outcome: 'success',
    details: { env: req.environment, role: req.role, intent: req.intent, principal, signer: signed.signer.id, statement: digest, file, expiresAt: predicate.expiresAt },
  });
  return { id, environment: req.environment, role: req.role, verdict: req.verdict, intent: req.intent, principal, signer: signed.signer.id, file, digest, issuedAt: predicate.issuedAt, expiresAt: predicate.expiresAt };
}

/** An approval or rejection the audit log records, by statement digest. */
interface RecordedLine {
  seq: number;
  action: Verdict;
  to: string;
  statement: string;
  env: string;
  role: string;
  intent: Intent;
  principal: string;
  time: string;
}

function recordedApprovals(layout: StoreLayout, id: string): RecordedLine[] {
  const out: RecordedLine[] = [];
  for (const r of readAuditRecords(layout)) {
    const d = r?.details;
    if (r && (r.action === 'approve' || r.action === 'reject') && r.to === id && d && typeof d.statement === 'string') {
      out.push({ seq: r.seq, action: r.action, to: r.to, statement: d.statement, env: String(d.env), role: String(d.role), intent: d.intent === 'rollback' ? 'rollback' : 'promote', principal: String(d.principal), time: r.time });
    }
  }
  return out;
}

export interface StatementReport {
  file: string;
  digest: string;
  valid: boolean;
  problem: string | null;
  principal: string | null;
  signer: string | null;
  environment: string | null;
  role: string | null;
  verdict: Verdict | null;
  intent: Intent | null;
  issuedAt: string | null;
  expiresAt: string | null;
}

/** Principals who signed the snapshot's manifest with one of their keys: its editors. */
async function editorsOf(layout: StoreLayout, id: string, principals: Principals): Promise<string[]> {
  const bytes = readManifestBytes(layout, id);
  const out = new Set<string>();
  for (const rec of (await readMetadata(layout, id)).signatures) {
    const check = rec.type === 'pgp' ? await verifyPgp(bytes, rec.signature, principals.pgp) : rec.method === 'key' ? verifyKeyBundle(bytes, rec.signature, principals.sigstore) : null;
    const who = check?.valid ? principals.of({ type: rec.type, id: check.signer }) : null;
    if (who) out.add(who);
  }
  return [...out].sort();
}

export interface Approvals {
  statements: StatementReport[];
  editors: string[];
  /** Approvals that verified, as the policy reads them. */
  approvals: Approval[];
}

/**
 * Reads and verifies every approval about a snapshot. A statement counts only with its audit
 * record; a rejection the audit log records counts even when its file is gone (deleting a rejection
 * must not turn a deny into an allow).
 */
export async function readApprovals(layout: StoreLayout, id: string, principals: Principals): Promise<Approvals> {
  const recorded = recordedApprovals(layout, id);
  const byDigest = new Map(recorded.map((r) => [r.statement, r]));
  const statements: StatementReport[] = [];
  const approvals: Approval[] = [];
  const seen = new Set<string>();
  for (const s of readStatements(layout, id)) {
    const check = await verifyStatement(s.text, s.format, principals, { predicateType: APPROVAL_PREDICATE, subject: id });
    const base = { file: s.file, principal: null, signer: check.signer?.id ?? null, environment: null, role: null, verdict: null, intent: null, issuedAt: null, expiresAt: null };
    if (!check.ok) {
      // Another kind of statement about the snapshot (a decision) is not an approval: left out quietly.
      if (!/predicate type/.test(check.problem)) statements.push({ ...base, digest: '', valid: false, problem: check.problem });
      continue;
    }
    seen.add(check.digest);
    const p = check.statement.predicate as Partial<ApprovalPredicate>;
    const shape = typeof p.environment === 'string' && typeof p.role === 'string' && (p.verdict === 'approve' || p.verdict === 'reject') && (p.intent === 'promote' || p.intent === 'rollback') && typeof p.issuedAt === 'string' && !Number.isNaN(Date.parse(p.issuedAt)) && (p.expiresAt === null || (typeof p.expiresAt === 'string' && !Number.isNaN(Date.parse(p.expiresAt))));
    const principal = principals.of(check.signer);
    const report: StatementReport = { ...base, digest: check.digest, valid: shape, problem: shape ? null : 'the approval predicate is incomplete', principal, signer: check.signer.id, environment: p.environment ?? null, role: p.role ?? null, verdict: p.verdict ?? null, intent: p.intent ?? null, issuedAt: p.issuedAt ?? null, expiresAt: p.expiresAt ?? null };
    if (shape && !byDigest.has(check.digest)) Object.assign(report, { valid: false, problem: 'not in the audit log (a statement file that no approve or reject recorded)' });
    statements.push(report);
    if (report.valid) approvals.push({ ref: s.file, principal, signer: check.signer.id, role: p.role!, environment: p.environment!, snapshot: id, intent: p.intent!, verdict: p.verdict!, issuedAt: Date.parse(p.issuedAt!), expiresAt: p.expiresAt ? Date.parse(p.expiresAt) : null });
  }
  for (const r of recorded) {
    if (r.action !== 'reject' || seen.has(r.statement)) continue;
    statements.push({ file: `audit.log#${r.seq}`, digest: r.statement, valid: false, problem: 'a rejection the audit log records whose statement file is missing: it still counts', principal: r.principal, signer: null, environment: r.env, role: r.role, verdict: 'reject', intent: r.intent, issuedAt: r.time, expiresAt: null });
    approvals.push({ ref: `audit.log#${r.seq} (statement ${shortId(r.statement)} missing)`, principal: r.principal, signer: r.principal, role: r.role, environment: r.env, snapshot: id, intent: r.intent, verdict: 'reject', issuedAt: Date.parse(r.time), expiresAt: null });
  }
  return { statements, editors: await editorsOf(layout, id, principals), approvals };
}

/** Newest passing rehearsal of the snapshot up to a moment, from the audit log. */
export function rehearsedAt(layout: StoreLayout, id: string, until: number): number | null {
  let at: number | null = null;
  for (const r of readAuditRecords(layout)) {
    if (r?.action === 'rehearse' && r.to === id && r.outcome === 'success' && Date.parse(r.time) <= until) at = Date.parse(r.time);
  }
  return at;
}

export function evaluate(ws: Workspace, layout: StoreLayout, id: string, env: string, intent: Intent, found: Approvals, pins: PinFacts, operator: string | null = null, now = Date.now()): PolicyResult {
  return evaluatePolicy({ policy: environmentPolicy(ws, env), snapshot: id, intent, now, roles: ws.config.roles, editors: found.editors, operator, approvals: found.approvals, pinnedIn: pins.pinnedIn, rehearsedAt: rehearsedAt(layout, id, now), heldBackSince: pins.heldBackSince });
}
