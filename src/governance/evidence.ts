// Everything snapgov holds about a snapshot's governance, in one document that can be checked
// without snapgov: each statement as stored (a DSSE envelope or a Sigstore bundle, verified one by
// one with gpg or cosign, docs/governance.md), the pins that name the snapshot, and their decisions.
import type { Workspace } from '../config/config.js';
import type { StoreLayout } from '../store/layout.js';
import { pinnedEnvironments, readPinHistory } from '../store/pins.js';
import { readDecision, readStatements, type StatementFormat } from '../store/statements.js';
import { environmentPolicy } from './approvals.js';
import { environmentState } from './history.js';
import { REHEARSAL_PREDICATE } from '../core/rehearsal.js';

export interface EvidenceStatement {
  kind: 'approval' | 'rehearsal' | 'decision';
  /** Relative to the metadata folder. */
  file: string;
  format: StatementFormat;
  /** The file's content as stored: a DSSE envelope (OpenPGP) or a Sigstore bundle. */
  content: unknown;
}

export interface EvidenceBundle {
  format: 'snapgov-evidence/1';
  snapshot: string;
  environment: string | null;
  statements: EvidenceStatement[];
  pins: { environment: string; seq: number; time: string; principal: string; intent: string; runId: string; decision: string; previous: string | null }[];
}

export async function collectEvidence(ws: Workspace, layout: StoreLayout, id: string, env: string | null): Promise<EvidenceBundle> {
  if (env !== null) environmentPolicy(ws, env);
  const envs = env !== null ? [env] : pinnedEnvironments(layout);
  const pins: EvidenceBundle['pins'] = [];
  const statements: EvidenceStatement[] = readStatements(layout, id).map((s) => {
    const content = JSON.parse(s.text) as unknown;
    return { kind: payloadOf(content)?.predicateType === REHEARSAL_PREDICATE ? 'rehearsal' : 'approval', file: s.file, format: s.format, content };
  });
  for (const e of envs) {
    environmentState(layout, e); // refuses a history that does not match the audit log
    for (const p of readPinHistory(layout, e).pins.filter((x) => x.entry.snapshot === id)) {
      pins.push({ environment: e, seq: p.entry.seq, time: p.entry.time, principal: p.entry.principal, intent: p.entry.intent, runId: p.entry.runId, decision: p.entry.decision, previous: p.entry.previous });
      const d = readDecision(layout, p.entry.decision);
      if (d) statements.push({ kind: 'decision', file: d.file, format: d.format, content: JSON.parse(d.text) as unknown });
    }
  }
  // With --env, only the approvals for that environment (a rehearsal is about the snapshot wherever it goes).
  const keep = env === null ? statements : statements.filter((s) => s.kind !== 'approval' || payloadOf(s.content)?.predicate?.environment === env);
  return { format: 'snapgov-evidence/1', snapshot: id, environment: env, statements: keep, pins };
}

/** The statement inside a stored envelope or bundle, read without verifying (only to sort what is exported). */
function payloadOf(content: unknown): { predicateType?: string; predicate?: { environment?: string } } | null {
  const c = content as { payload?: unknown; dsseEnvelope?: { payload?: unknown } };
  const payload = typeof c.payload === 'string' ? c.payload : typeof c.dsseEnvelope?.payload === 'string' ? c.dsseEnvelope.payload : null;
  if (payload === null) return null;
  try {
    return JSON.parse(Buffer.from(payload, 'base64').toString('utf8')) as { predicateType?: string; predicate?: { environment?: string } };
  } catch {
    return null;
  }
}
