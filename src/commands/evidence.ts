import type { ChalkInstance } from 'chalk';
import { shortId } from '../core/ref.js';
import { outcome, type GlobalOptions, type Outcome } from '../output.js';
import { resolve } from 'node:path';
import { openStore, resolveSnapshot, withLock } from '../store/open.js';
import { collectEvidence, type EvidenceBundle } from '../governance/evidence.js';
import { atomicWriteFile } from '../util/fsx.js';
import { refuseOutputPath } from '../archive/output-path.js';

export interface EvidenceOptions {
  env?: string;
  output?: string;
}

export interface EvidenceResult extends EvidenceBundle {
  /** Where the bundle was written with -o (the document is then not printed whole). */
  written: string | null;
}

export async function evidence(ref: string, o: EvidenceOptions, g: GlobalOptions): Promise<Outcome<EvidenceResult>> {
  const store = await openStore(g);
  const file = o.output ? resolve(o.output) : null;
  if (file) refuseOutputPath(store, file, '-o');
  const bundle = await withLock(g, store.layout, 'shared', 'evidence', async () => collectEvidence(store.ws, store.layout, (await resolveSnapshot(store.layout, ref)).id, o.env ?? null));
  if (file) atomicWriteFile(file, `${JSON.stringify(bundle, null, 2)}\n`);
  return outcome({ ...bundle, written: file }, renderEvidence);
}

function renderEvidence(r: EvidenceResult, s: ChalkInstance): string {
  const lines = [`${s.bold(shortId(r.snapshot))}: ${r.statements.length} statement(s), ${r.pins.length} pin(s)${r.written ? `; written to ${r.written}` : ''}`];
  for (const st of r.statements) lines.push(`  ${st.kind.padEnd(8)} ${st.file}`);
  for (const p of r.pins) lines.push(`  pin      ${p.environment} #${p.seq} at ${p.time} by ${p.principal}, decision ${p.decision}`);
  return lines.join('\n');
}
