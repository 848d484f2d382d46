// Audit checkpoints: a signed head of the audit chain. The hash chain alone shows lines changed in
// place; someone who rewrites the log and recomputes every hash after the change leaves a valid
// chain. A checkpoint kept elsewhere pins the first N lines: their bytes, and the hash of line N.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Workspace } from '../config/config.js';
import { lineHash } from '../core/audit-chain.js';
import { STATEMENT_TYPE, type Statement } from '../core/dsse.js';
import { SnapgovError } from '../errors.js';
import { verifyStatement, type StatementKey } from '../signing/statements.js';
import { readAuditLines, verifyAudit } from '../store/audit-log.js';
import type { StoreLayout } from '../store/layout.js';
import type { StatementFormat } from '../store/statements.js';
import { atomicWriteFile, ensureDir } from '../util/fsx.js';
import { loadPrincipals, signingPrincipal, type Principals } from './approvals.js';

export const CHECKPOINT_PREDICATE = 'https://snapgov.dev/attestation/audit-checkpoint/v1';

export interface CheckpointPredicate {
  /** The checkpoint covers lines 1..seq: `head -n SEQ audit.log | sha256sum` is the subject's digest. */
  seq: number;
  /** The chain hash of line seq (what audit.head holds). */
  hash: string;
  bytes: number;
  checkpointedAt: string;
  principal: string;
}

export interface Checkpoint extends CheckpointPredicate {
  /** Where it was written (an absolute path with -o, else relative to the metadata folder). */
  file: string;
  /** `dsse` (OpenPGP) or `sigstore` (a bundle). */
  signedAs: StatementFormat;
  signer: string;
  logSha256: string;
}

const checkpointsDir = (l: StoreLayout) => join(l.metadata, 'checkpoints');
const NAME = /^\d+-[0-9a-f]{12}\.(dsse|sigstore)\.json$/;

/** The first `lines` lines of the log as bytes, each with its line break. */
function prefixOf(lines: readonly string[], n: number): Buffer {
  return Buffer.from(lines.slice(0, n).map((x) => `${x}\n`).join(''));
}

/**
 * Signs the head of an intact audit log, under the caller's shared lock (appends take the exclusive
 * one). The signer must be a principal, and hold `auditor` when snapgov.json defines that role.
 */
export async function writeCheckpoint(ws: Workspace, layout: StoreLayout, key: StatementKey, output: string | null): Promise<Checkpoint> {
  const principal = await signingPrincipal(ws, key);
  const auditors = ws.config.roles.auditor;
  if (auditors && !auditors.includes(principal)) throw new SnapgovError('NOT_AUTHORIZED', `${principal} does not hold the role auditor`, `the role is held by ${auditors.join(', ')}; nothing was written`);
  const audit = await verifyAudit(layout);
  if (!audit.ok) throw new SnapgovError('STORE_CORRUPT', `the audit log is damaged (${audit.problems[0]!.message}); a checkpoint would vouch for it`, 'run `snapgov audit verify`, restore metadata from a backup, then checkpoint again; nothing was written');
  const lines = readAuditLines(layout);
  if (lines.length === 0) throw new SnapgovError('USAGE', 'the audit log is empty: there is nothing to checkpoint', 'checkpoint after the first snapshot');
  const prefix = prefixOf(lines, lines.length);
  const logSha256 = createHash('sha256').update(prefix).digest('hex');
  const predicate: CheckpointPredicate = { seq: lines.length, hash: lineHash(lines.at(-1)!), bytes: prefix.length, checkpointedAt: new Date().toISOString(), principal };
  const st: Statement<CheckpointPredicate> = { _type: STATEMENT_TYPE, subject: [{ name: 'audit.log', digest: { sha256: logSha256 } }], predicateType: CHECKPOINT_PREDICATE, predicate };
  const signed = await key.sign(st);
  let file: string;
  if (output) file = output;
  else {
    ensureDir(checkpointsDir(layout));
    file = join('checkpoints', `${predicate.seq}-${createHash('sha256').update(signed.text).digest('hex').slice(0, 12)}.${signed.format}.json`);
  }
  atomicWriteFile(output ?? join(layout.metadata, file), signed.text);
  return { ...predicate, file, signedAs: signed.format, signer: signed.signer.id, logSha256: `sha256:${logSha256}` };
}

export interface CheckpointCheck {
  file: string;
  ok: boolean;
  seq: number | null;
  checkpointedAt: string | null;
  principal: string | null;
  problem: string | null;
}

/** Checks one checkpoint (its text and how it is signed) against the log as it is now. */
async function checkCheckpoint(ws: Workspace, principals: Principals, file: string, text: string, format: StatementFormat, lines: readonly string[]): Promise<CheckpointCheck> {
  const fail = (problem: string, seq: number | null = null, at: string | null = null, principal: string | null = null): CheckpointCheck => ({ file, ok: false, seq, checkpointedAt: at, principal, problem });
  const check = await verifyStatement(text, format, principals, { predicateType: CHECKPOINT_PREDICATE, subject: null });
  if (!check.ok) return fail(`the checkpoint does not verify: ${check.problem}`);
  const who = principals.of(check.signer);
  if (who === null) return fail(`signed by ${check.signer.id}, who is no principal in snapgov.json`);
  const auditors = ws.config.roles.auditor;
  if (auditors && !auditors.includes(who)) return fail(`signed by ${who}, who does not hold the role auditor`);
  const p = check.statement.predicate as Partial<CheckpointPredicate>;
  if (typeof p.seq !== 'number' || !Number.isInteger(p.seq) || p.seq < 1 || typeof p.hash !== 'string' || typeof p.checkpointedAt !== 'string') return fail('the checkpoint predicate is incomplete');
  const at = p.checkpointedAt;
  if (lines.length < p.seq) return fail(`the log has ${lines.length} line(s), the checkpoint of ${at} covers ${p.seq}: it was cut back`, p.seq, at, who);
  const digest = createHash('sha256').update(prefixOf(lines, p.seq)).digest('hex');
  if (check.statement.subject[0]!.digest.sha256 !== digest || lineHash(lines[p.seq - 1]!) !== p.hash) return fail(`lines 1..${p.seq} are not the ones checkpointed at ${at}: the log was rewritten`, p.seq, at, who);
  return { file, ok: true, seq: p.seq, checkpointedAt: at, principal: who, problem: null };
}

/** The checkpoints kept in the store, and the files named on the command line. */
export async function checkCheckpoints(ws: Workspace, layout: StoreLayout, extra: readonly string[]): Promise<CheckpointCheck[]> {
  const lines = readAuditLines(layout);
  const files: { file: string; text: string; format: StatementFormat }[] = [];
  let stored: string[] = [];
  try {
    stored = readdirSync(checkpointsDir(layout)).filter((n) => NAME.test(n)).sort();
  } catch {
    // none kept
  }
  for (const n of stored) files.push({ file: join('checkpoints', n), text: readText(join(checkpointsDir(layout), n)), format: NAME.exec(n)![1] as StatementFormat });
  for (const f of extra) {
    // A file saved elsewhere may have any name: a Sigstore bundle says what it is.
    const text = readText(f);
    files.push({ file: f, text, format: /"mediaType"\s*:\s*"application\/vnd\.dev\.sigstore\.bundle/.test(text) ? 'sigstore' : 'dsse' });
  }
  const out: CheckpointCheck[] = [];
  const principals = files.length ? await loadPrincipals(ws) : null;
  for (const f of files) out.push(await checkCheckpoint(ws, principals!, f.file, f.text, f.format, lines));
  return out;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new SnapgovError('USAGE', `cannot read the checkpoint ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'name a file written by `snapgov audit checkpoint`');
  }
}
