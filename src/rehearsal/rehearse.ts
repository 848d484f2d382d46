import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { arch, cpus, hostname, platform } from 'node:os';
import { join, relative } from 'node:path';
import type { SlaConfig } from '../config/config.js';
import { sha256Hex } from '../core/manifest.js';
import { REHEARSAL_PREDICATE, renderReportMarkdown, seededRandom, type ReportHeader, type ScenarioName, type ScenarioReport } from '../core/rehearsal.js';
import { shortId } from '../core/ref.js';
import { SnapgovError } from '../errors.js';
import type { GlobalOptions } from '../output.js';
import { validate } from '../schema.js';
import { statement } from '../core/dsse.js';
import type { StatementKey } from '../signing/statements.js';
import { appendAudit } from '../store/audit-log.js';
import { writeStatement } from '../store/statements.js';
import type { StoreLayout } from '../store/layout.js';
import { acquireLock } from '../store/lock.js';
import { withLock, type Store } from '../store/open.js';
import { loadHistory, loadManifest, resolveStoreRef, TOOL_VERSION, type SnapshotRecord } from '../store/snapshots.js';
import { onInterrupt } from '../util/cleanup.js';
import { parseDuration } from '../util/duration.js';
import { progress, progressNote } from '../util/progress.js';
import { runScenario } from './drill.js';
import { createSandbox, markKept, removeSandbox, removeStaleSandboxes, sandboxDir } from './sandbox.js';

export interface RehearsalReport extends ReportHeader {
  format: 'snapgov-rehearsal-report/1';
  finishedAt: string;
  sandbox: { path: string; kept: boolean; objects: 'hardlink' | 'symlink' };
  sla: SlaConfig;
  scenarios: ScenarioReport[];
  host: { name: string; platform: string; arch: string; cpus: number; node: string };
  /** Where report.json and report.md were written (relative to the workspace when inside it). */
  reportPath: string;
  /** The signed statement of the result, relative to the metadata folder (not in report.json: it signs that file's digest). */
  statement?: string;
}

/** The result as a signed in-toto statement about the snapshot, stored with its other statements. */
async function signResult(layout: StoreLayout, key: StatementKey, r: RehearsalReport, reportSha256: string) {
  const signed = await key.sign(
    statement(r.snapshot.id, REHEARSAL_PREDICATE, {
      result: r.ok ? 'PASSED' : 'FAILED',
      rehearsedAt: r.finishedAt,
      seed: r.seed,
      sla: r.sla,
      scenarios: r.scenarios.map((x) => ({ name: x.name, status: x.status, recoveryMs: x.recoveryMs })),
      report: { id: r.id, sha256: reportSha256 },
      toolVersion: r.toolVersion,
    }),
  );
  return writeStatement(layout, r.snapshot.id, signed.text, signed.format);
}

/** A drill, its options parsed. */
export interface RehearsalRun {
  scenarios: ScenarioName[];
  sla: SlaConfig;
  seed: number;
  pick?: string;
  window?: string;
  sandbox?: string;
  keepSandbox?: boolean;
  /** Signs a statement of the result about the snapshot (evidence beside approvals), when given. */
  key?: StatementKey | null;
}

/** REF, or with --pick random a random snapshot from the last --window (AWS Backup's restore-testing choice). */
async function choose(layout: StoreLayout, ref: string | undefined, o: Pick<RehearsalRun, 'pick' | 'window'>, history: SnapshotRecord[], random: () => number): Promise<{ snap: SnapshotRecord; picked: string }> {
  if (o.pick === undefined) return { snap: await resolveStoreRef(layout, ref ?? 'latest', history), picked: ref ? `named (${ref})` : 'latest' };
  if (o.pick !== 'random') throw new SnapgovError('USAGE', `--pick ${JSON.stringify(o.pick)} is not supported`, 'use --pick random (with --window, default 30d), or name a REF');
  if (ref !== undefined) throw new SnapgovError('USAGE', 'give a REF or --pick random, not both', 'snapgov rehearse --pick random --window 30d');
  const windowMs = parseDuration(o.window ?? '30d', '--window');
  const since = Date.now() - windowMs;
  const pool = history.filter((s) => Date.parse(s.time) >= since && s.meta.trigger !== 'pre-rollback');
  if (pool.length === 0) throw new SnapgovError('REF_UNKNOWN', `no snapshot in the last ${o.window ?? '30d'} to pick from`, 'widen --window, or name a REF');
  return { snap: pool[Math.floor(random() * pool.length)]!, picked: `random from ${pool.length} snapshot(s) of the last ${o.window ?? '30d'}` };
}

/** `<UTC time>-<short id>`, to the millisecond; a second drill in the same millisecond gets a suffix. */
function reportId(dir: string, time: string, id: string): string {
  const base = `${time.replace(/[-:]/g, '')}-${shortId(id)}`;
  let name = base;
  for (let n = 2; existsSync(join(dir, name)); n++) name = `${base}-${n}`;
  return name;
}

/**
 * Restores the snapshot into a sandbox, runs each scenario there, and records the report and one
 * audit line in the real store; started is when the command began (the report's total counts it).
 */
export async function runRehearsal(g: GlobalOptions, { ws, layout }: Store, ref: string | undefined, o: RehearsalRun, started: { at: string; ms: number }): Promise<RehearsalReport> {
  const { seed, sla } = o;
  const names = o.scenarios;
  const startedAt = started.at;
  const random = seededRandom(seed);

  // A shared lock on the real store for the whole drill: readers may run, prune may not delete what it reads.
  const drill = await withLock(g, layout, 'shared', 'rehearse', async () => {
    const { snapshots: history } = await loadHistory(layout);
    const { snap, picked } = await choose(layout, ref, o, history, random);
    const target = loadManifest(layout, snap.id).entries;
    const runId = reportId(ws.dirs.rehearsal, startedAt, snap.id);
    removeStaleSandboxes(ws);
    const dir = sandboxDir(ws, o.sandbox, runId);
    const stopCleanup = o.keepSandbox ? () => undefined : onInterrupt(() => removeSandbox({ dir }));
    const results: ScenarioReport[] = [];
    try {
      const sb = await createSandbox(ws, layout, dir, snap.id);
      const sbLock = await acquireLock(sb.layout.locks, 'exclusive', { waitMs: 0, command: 'rehearse' });
      try {
        for (const name of names) {
          progress(`scenario ${name}…`);
          const res = await runScenario(name, sb, sbLock, snap.id, target, sla, random);
          progressNote(`  ${res.status.padEnd(7)} ${name} (recovery ${(res.recoveryMs / 1000).toFixed(2)} s)`);
          results.push(res);
        }
      } finally {
        sbLock.release();
      }
      return { snap, picked, runId, sb, target, results };
    } finally {
      if (!o.keepSandbox) removeSandbox({ dir });
      else if (existsSync(dir)) markKept(dir);
      stopCleanup();
    }
  });

  const { snap, picked, runId, sb, target, results } = drill;
  const count = (s: ScenarioReport['status']) => results.filter((r) => r.status === s).length;
  const reportDir = join(ws.dirs.rehearsal, runId);
  const report: RehearsalReport = {
    format: 'snapgov-rehearsal-report/1',
    id: runId,
    ok: count('failed') === 0 && count('passed') > 0,
    startedAt,
    finishedAt: new Date().toISOString(),
    snapshot: { id: snap.id, time: snap.time, picked, files: target.length, bytes: target.reduce((n, e) => n + (e.type === 'file' ? e.size : 0), 0) },
    seed,
    sandbox: { path: sb.dir, kept: !!o.keepSandbox, objects: sb.objects },
    sla,
    scenarios: results,
    totals: { durationMs: Math.round(performance.now() - started.ms), maxRecoveryMs: Math.max(0, ...results.map((r) => r.recoveryMs)), passed: count('passed'), failed: count('failed'), skipped: count('skipped') },
    toolVersion: TOOL_VERSION,
    host: { name: hostname(), platform: platform(), arch: arch(), cpus: cpus().length, node: process.version },
    reportPath: relative(ws.root, reportDir).startsWith('..') ? reportDir : relative(ws.root, reportDir),
  };
  const v = await validate('rehearsal-report', report);
  if (!v.ok) throw new SnapgovError('INTERNAL', `the rehearsal report does not match its schema: ${v.errors.join('; ')}`, 'this is a bug in snapgov; please report it');
  const json = JSON.stringify(report, null, 2) + '\n';
  // The only writes to the real store: the report and one audit entry with its digest.
  await withLock(g, layout, 'exclusive', 'rehearse', async () => {
    mkdirSync(reportDir, { recursive: true });
    writeFileSync(join(reportDir, 'report.json'), json);
    writeFileSync(join(reportDir, 'report.md'), renderReportMarkdown(report, results));
    const signed = o.key ? await signResult(layout, o.key, report, sha256Hex(json)) : null;
    if (signed) report.statement = signed.file;
    await appendAudit(layout, {
      action: 'rehearse',
      to: snap.id,
      outcome: report.ok ? 'success' : 'failure',
      details: { report: report.reportPath, reportSha256: sha256Hex(json), seed, passed: report.totals.passed, failed: report.totals.failed, skipped: report.totals.skipped, maxRecoveryMs: report.totals.maxRecoveryMs, ...(signed ? { statement: signed.digest, file: signed.file } : {}) },
    });
  });
  return report;
}

