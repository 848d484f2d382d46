/** The recovery-time targets (the config's `sla` section). */
export interface SlaConfig {
  snapshotSeconds: number;
  rollbackSeconds: number;
  verifySeconds: number;
  recoverySeconds: number;
}

/** The drills, in the order they run; each starts from a fresh restore. */
export const SCENARIOS = ['index-truncated', 'index-garbled', 'artifact-deleted', 'artifact-bitflip', 'stray-file', 'mode-changed', 'tree-wiped'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export const PHASES = ['restore', 'inject', 'detect', 'rollback', 'verify', 'gates'] as const;
export type Phase = (typeof PHASES)[number];

export interface SlaResult {
  name: 'snapshot' | 'verify' | 'rollback' | 'recovery';
  limitMs: number;
  actualMs: number;
  met: boolean;
  /** limit minus actual: negative when breached. */
  marginMs: number;
}

export interface ScenarioReport {
  name: ScenarioName;
  status: 'passed' | 'failed' | 'skipped';
  skipReason?: string;
  injected: { description: string; paths: string[] } | null;
  detected: boolean;
  problemsDetected: number;
  problems: { code: string; path: string }[];
  recovered: boolean;
  phases: Record<Phase, number>;
  /** detect + rollback + verify */
  recoveryMs: number;
  /** The rollback's safety snapshot of the damaged tree (judged against the snapshot SLA). */
  safetySnapshotMs: number;
  compared: { files: number; bytes: number };
  dataLoss: { files: number; bytes: number; paths: string[] };
  gates: { name: string; ok: boolean; durationMs: number }[];
  sla: SlaResult[];
  errors: string[];
  /** false when the snapshot could not be restored into the sandbox: the later phases did not run. */
  restored?: boolean;
  /** What went wrong, in words; empty when the scenario passed. */
  failures: string[];
}

/** A small seeded generator (mulberry32): the same seed injects the same corruption into the same files. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function evaluateSla(r: Pick<ScenarioReport, 'phases' | 'recoveryMs' | 'safetySnapshotMs'>, sla: SlaConfig): SlaResult[] {
  const one = (name: SlaResult['name'], seconds: number, actualMs: number): SlaResult => {
    const limitMs = Math.round(seconds * 1000);
    return { name, limitMs, actualMs, met: actualMs <= limitMs, marginMs: limitMs - actualMs };
  };
  return [
    one('snapshot', sla.snapshotSeconds, r.safetySnapshotMs),
    one('verify', sla.verifySeconds, r.phases.verify),
    one('rollback', sla.rollbackSeconds, r.phases.rollback),
    one('recovery', sla.recoverySeconds, r.recoveryMs),
  ];
}

/** The verdict of one scenario from its measurements: every reason it failed, in words. */
export function judge(r: Omit<ScenarioReport, 'status' | 'failures'>): Pick<ScenarioReport, 'status' | 'failures'> {
  if (r.skipReason) return { status: 'skipped', failures: [] };
  const failures: string[] = [];
  for (const e of r.errors) failures.push(e);
  if (r.restored === false) return { status: 'failed', failures: [...failures, 'the drill did not run: the snapshot could not be restored into the sandbox (no data loss was measured)'] };
  if (!r.detected) failures.push('the corruption was not detected by verify --worktree');
  if (!r.recovered) failures.push('the rollback did not end with a verified tree');
  if (r.dataLoss.files > 0) failures.push(`data loss after recovery: ${r.dataLoss.files} file(s), ${r.dataLoss.bytes} byte(s) differ from the snapshot`);
  for (const g of r.gates) if (!g.ok) failures.push(`gate ${g.name} failed`);
  for (const s of r.sla) if (!s.met) failures.push(`${s.name} SLA breached: ${s.actualMs} ms against ${s.limitMs} ms`);
  return { status: failures.length === 0 ? 'passed' : 'failed', failures };
}

export interface ReportHeader {
  id: string;
  ok: boolean;
  startedAt: string;
  snapshot: { id: string; time: string; picked: string; files: number; bytes: number };
  seed: number;
  toolVersion: string;
  host: { name: string };
  totals: { durationMs: number; maxRecoveryMs: number; passed: number; failed: number; skipped: number };
}

const ms = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${n} ms`);

/** report.md: what people read after a drill. */
export function renderReportMarkdown(h: ReportHeader, scenarios: readonly ScenarioReport[]): string {
  const out = [
    `# Rollback rehearsal ${h.id}: ${h.ok ? 'PASSED' : 'FAILED'}`,
    '',
    `- snapshot: \`${h.snapshot.id}\` (${h.snapshot.time}, ${h.snapshot.picked}; ${h.snapshot.files} files, ${h.snapshot.bytes} bytes)`,
    `- started: ${h.startedAt} on ${h.host.name}, snapgov ${h.toolVersion}, seed ${h.seed}`,
    `- scenarios: ${h.totals.passed} passed, ${h.totals.failed} failed, ${h.totals.skipped} skipped; slowest recovery ${ms(h.totals.maxRecoveryMs)}; total ${ms(h.totals.durationMs)}`,
    '',
  ];
  for (const s of scenarios) {
    out.push(`## ${s.name}: ${s.status}`, '');
    if (s.status === 'skipped') {
      out.push(`Skipped: ${s.skipReason}.`, '');
      continue;
    }
    if (s.injected) out.push(`Injected: ${s.injected.description}.`, '');
    out.push('| phase | time |', '|---|---:|');
    for (const p of PHASES) out.push(`| ${p} | ${ms(s.phases[p])} |`);
    out.push(`| **recovery** (detect + rollback + verify) | **${ms(s.recoveryMs)}** |`, '');
    out.push('| SLA | limit | actual | margin | met |', '|---|---:|---:|---:|---|');
    for (const x of s.sla) out.push(`| ${x.name} | ${ms(x.limitMs)} | ${ms(x.actualMs)} | ${x.marginMs < 0 ? '-' : ''}${ms(Math.abs(x.marginMs))} | ${x.met ? 'yes' : '**no**'} |`);
    if (s.restored === false) out.push('', '**Not run**: the snapshot could not be restored into the sandbox, so nothing was injected, detected or compared.');
    else out.push('', `Detected: ${s.detected ? `yes (${s.problemsDetected} problem(s))` : '**no**'}. Recovered: ${s.recovered ? 'yes' : '**no**'}. Compared ${s.compared.files} files, ${s.compared.bytes} bytes; data loss ${s.dataLoss.files} file(s), ${s.dataLoss.bytes} bytes.`);
    if (s.gates.length) out.push(`Gates: ${s.gates.map((g) => `${g.name} ${g.ok ? 'ok' : 'FAILED'}`).join(', ')}.`);
    if (s.failures.length) out.push('', 'What failed:', ...s.failures.map((f) => `- ${f}`));
    out.push('');
  }
  return out.join('\n');
}

/** The predicate type of a signed rehearsal result (an in-toto statement about the snapshot). */
export const REHEARSAL_PREDICATE = 'https://snapgov.dev/attestation/rehearsal/v1';
