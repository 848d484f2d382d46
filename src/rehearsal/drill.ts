import type { SlaConfig } from '../config/config.js';
import { diffEntries } from '../core/diff.js';
import type { Entry } from '../core/manifest.js';
import { evaluateSla, judge, type Phase, type ScenarioName, type ScenarioReport } from '../core/rehearsal.js';
import { toSnapgovError } from '../errors.js';
import { executeRollback } from '../rollback/engine.js';
import { liveEntries } from '../scan/live.js';
import { worktreeProblems } from '../verify/worktree.js';
import type { StoreLock } from '../store/lock.js';
import { runGates } from '../rollback/gates.js';
import { freshWorkspace, type Sandbox } from './sandbox.js';
import { inject } from './inject.js';

/** Files and bytes of the snapshot that the tree does not hold byte for byte (plus anything extra). */
function dataLoss(target: readonly Entry[], tree: readonly Entry[]): ScenarioReport['dataLoss'] {
  const d = diffEntries(target, tree);
  const size = new Map<string, number>();
  for (const e of target) if (e.type === 'file') size.set(e.path, e.size);
  for (const e of tree) if (e.type === 'file' && !size.has(e.path)) size.set(e.path, e.size);
  const paths = [...d.removed, ...d.modified, ...d.added];
  return { files: paths.length, bytes: paths.reduce((n, p) => n + (size.get(p) ?? 0), 0), paths: paths.slice(0, 20) };
}

async function timed<T>(phases: Record<Phase, number>, phase: Phase, fn: () => Promise<T> | T): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    phases[phase] = Math.round(performance.now() - t0);
  }
}

/**
 * One scenario, end to end, in the sandbox: a fresh restore of the snapshot with the real rollback
 * code, the injected damage, detection by the `verify --worktree` check, the real rollback (safety
 * snapshot, journal, apply, its own verification), an independent byte-for-byte comparison with
 * the manifest that trusts no cache, and the configured gates. A failing step is recorded and the
 * later steps still run, so the report shows the data loss that remains.
 */
export async function runScenario(name: ScenarioName, sb: Sandbox, lock: StoreLock, snapshot: string, target: readonly Entry[], sla: SlaConfig, random: () => number): Promise<ScenarioReport> {
  const phases: Record<Phase, number> = { restore: 0, inject: 0, detect: 0, rollback: 0, verify: 0, gates: 0 };
  const errors: string[] = [];
  const store = await freshWorkspace(sb);
  const base = { name, injected: null, detected: false, problemsDetected: 0, problems: [], recovered: false, phases, recoveryMs: 0, safetySnapshotMs: 0, compared: { files: 0, bytes: 0 }, dataLoss: { files: 0, bytes: 0, paths: [] }, gates: [], sla: [], errors };
  const report: Omit<ScenarioReport, 'status' | 'failures'> = { ...base };
  const rollbackTo = (reason: string, safety: boolean) => executeRollback(store, lock, snapshot, { yes: true, reason, safetySnapshot: safety, gates: false });

  const restored = await timed(phases, 'restore', async () => {
    try {
      const r = await rollbackTo(`rehearsal: restore for ${name}`, false);
      if (!r.verified) errors.push(`the restore did not verify: ${r.drift.slice(0, 5).join(', ')}`);
      return true;
    } catch (e) {
      errors.push(`the restore failed: ${toSnapgovError(e).message}`);
      return false;
    }
  });
  // Nothing was restored, so nothing was damaged, detected or lost: the report says the drill did not run.
  if (!restored) return { ...report, restored: false, ...judge({ ...report, restored: false }) };
  const injection = await timed(phases, 'inject', () => {
    try {
      return inject(name, store.ws, target, random);
    } catch (e) {
      // Typically after a failed restore: the file to damage is not there.
      errors.push(`the damage could not be injected: ${toSnapgovError(e).message}`);
      return null;
    }
  });
  if (injection && 'skip' in injection) return { ...report, skipReason: injection.skip, ...judge({ ...report, skipReason: injection.skip }) };
  report.injected = injection;

  const problems = await timed(phases, 'detect', () => worktreeProblems(store, target));
  report.detected = problems.length > 0;
  report.problemsDetected = problems.length;
  report.problems = problems.slice(0, 10).map((p) => ({ code: p.code, path: p.path }));

  await timed(phases, 'rollback', async () => {
    try {
      const r = await rollbackTo(`rehearsal: recover from ${name}`, true);
      report.recovered = r.verified;
      report.safetySnapshotMs = r.safetySnapshotMs;
    } catch (e) {
      errors.push(`the rollback failed: ${toSnapgovError(e).message}`);
    }
  });
  const tree = await timed(phases, 'verify', () => liveEntries(store, { noCache: true }));
  report.compared = { files: tree.entries.length, bytes: tree.entries.reduce((n, e) => n + (e.type === 'file' ? e.size : 0), 0) };
  report.dataLoss = dataLoss(target, tree.entries);
  for (const s of tree.skipped) errors.push(`${s.path} cannot be read after recovery: ${s.reason}`);
  const gates = await timed(phases, 'gates', () => runGates(store.ws, tree.entries));
  report.gates = gates.map((g) => ({ name: g.name, ok: g.ok, durationMs: g.durationMs }));
  report.recoveryMs = phases.detect + phases.rollback + phases.verify;
  report.sla = evaluateSla(report, sla);
  return { ...report, ...judge(report) };
}
