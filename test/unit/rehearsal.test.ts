import { describe, expect, it } from 'vitest';
import { evaluateSla, judge, PHASES, renderReportMarkdown, seededRandom, type ScenarioReport } from '../../src/core/rehearsal.js';

const SLA = { snapshotSeconds: 30, verifySeconds: 60, rollbackSeconds: 300, recoverySeconds: 300 };
const phases = (p: Partial<Record<(typeof PHASES)[number], number>> = {}) => ({ restore: 0, inject: 0, detect: 0, rollback: 0, verify: 0, gates: 0, ...p });

function scenario(over: Partial<ScenarioReport> = {}): Omit<ScenarioReport, 'status' | 'failures'> {
  return {
    name: 'artifact-deleted',
    injected: { description: 'a deleted', paths: ['a'] },
    detected: true,
    problemsDetected: 1,
    problems: [],
    recovered: true,
    phases: phases(),
    recoveryMs: 0,
    safetySnapshotMs: 0,
    compared: { files: 1, bytes: 1 },
    dataLoss: { files: 0, bytes: 0, paths: [] },
    gates: [],
    sla: [],
    errors: [],
    ...over,
  };
}

describe('rehearsal SLAs', () => {
  it.each([
    ['all met', { safetySnapshotMs: 10, phases: phases({ verify: 100, rollback: 200 }), recoveryMs: 400 }, [true, true, true, true]],
    ['exactly at the limit is met', { safetySnapshotMs: 30_000, phases: phases({ verify: 60_000, rollback: 300_000 }), recoveryMs: 300_000 }, [true, true, true, true]],
    ['one over the limit is breached', { safetySnapshotMs: 30_001, phases: phases({ verify: 60_001, rollback: 300_001 }), recoveryMs: 300_001 }, [false, false, false, false]],
    ['only recovery breached', { safetySnapshotMs: 1, phases: phases({ verify: 1, rollback: 1 }), recoveryMs: 400_000 }, [true, true, true, false]],
  ])('%s', (_name, r, met) => {
    const res = evaluateSla(r, SLA);
    expect(res.map((x) => x.name)).toEqual(['snapshot', 'verify', 'rollback', 'recovery']);
    expect(res.map((x) => x.met)).toEqual(met);
    for (const x of res) expect(x.marginMs).toBe(x.limitMs - x.actualMs);
  });

  it('fractional seconds become whole milliseconds', () => {
    expect(evaluateSla({ safetySnapshotMs: 0, phases: phases(), recoveryMs: 2 }, { ...SLA, recoverySeconds: 0.001 })[3]).toEqual({ name: 'recovery', limitMs: 1, actualMs: 2, met: false, marginMs: -1 });
  });
});

describe('rehearsal verdicts', () => {
  it.each([
    ['a clean recovery passes', {}, 'passed', []],
    ['undetected damage fails', { detected: false }, 'failed', ['the corruption was not detected by verify --worktree']],
    ['an unverified rollback fails', { recovered: false }, 'failed', ['the rollback did not end with a verified tree']],
    ['data loss fails', { dataLoss: { files: 2, bytes: 10, paths: ['a', 'b'] } }, 'failed', ['data loss after recovery: 2 file(s), 10 byte(s) differ from the snapshot']],
    ['a failed gate fails', { gates: [{ name: 'smoke', ok: false, durationMs: 1 }] }, 'failed', ['gate smoke failed']],
    ['a breached SLA fails', { sla: [{ name: 'rollback' as const, limitMs: 1, actualMs: 5, met: false, marginMs: -4 }] }, 'failed', ['rollback SLA breached: 5 ms against 1 ms']],
    ['errors come first', { errors: ['the restore failed: x'], recovered: false }, 'failed', ['the restore failed: x', 'the rollback did not end with a verified tree']],
    ['a skipped scenario is neither', { skipReason: 'no index', detected: false }, 'skipped', []],
  ])('%s', (_name, over, status, failures) => {
    expect(judge(scenario(over as Partial<ScenarioReport>))).toEqual({ status, failures });
  });
});

describe('seeded damage', () => {
  it('the same seed gives the same sequence; another seed another one', () => {
    const seq = (seed: number) => Array.from({ length: 5 }, seededRandom(seed));
    expect(seq(42)).toEqual(seq(42));
    expect(seq(42)).not.toEqual(seq(43));
    for (const x of seq(7)) expect(x >= 0 && x < 1).toBe(true);
  });
});

describe('report.md', () => {
  it('has a table per scenario and says what failed in words', () => {
    const s = { ...scenario({ recoveryMs: 1500, phases: phases({ detect: 500, rollback: 900, verify: 100 }) }), ...judge(scenario({ detected: false })) };
    const md = renderReportMarkdown(
      { id: 'r1', ok: false, startedAt: '2026-01-01T00:00:00Z', snapshot: { id: 'sha256:ab', time: 't', picked: 'latest', files: 1, bytes: 1 }, seed: 1, toolVersion: '0', host: { name: 'h' }, totals: { durationMs: 2000, maxRecoveryMs: 1500, passed: 0, failed: 1, skipped: 0 } },
      [s],
    );
    expect(md).toContain('# Rollback rehearsal r1: FAILED');
    expect(md).toContain('## artifact-deleted: failed');
    expect(md).toContain('| rollback | 900 ms |');
    expect(md).toContain('| **recovery** (detect + rollback + verify) | **1.50 s** |');
    expect(md).toContain('- the corruption was not detected by verify --worktree');
  });
});
