import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import type { ScenarioReport } from '../../src/core/rehearsal.js';
import { listFiles, readJsonFile, REPO, run, runJson, sampleWorkspace, sha256, tempDir, writeTree } from '../helpers/cli.js';

type Scenario = ScenarioReport;

interface Report {
  id: string;
  ok: boolean;
  snapshot: { id: string; picked: string; files: number };
  seed: number;
  sandbox: { path: string; kept: boolean; objects: string };
  scenarios: Scenario[];
  totals: { passed: number; failed: number; skipped: number };
  reportPath: string;
}

const ALL = ['index-truncated', 'index-garbled', 'artifact-deleted', 'artifact-bitflip', 'stray-file', 'mode-changed', 'tree-wiped'];
const ajv = new Ajv({ allErrors: true });
const validReport = ajv.compile(JSON.parse(readFileSync(join(REPO, 'schemas/rehearsal-report.schema.json'), 'utf8')) as object);

/** Every file of the workspace (live tree and store) with its hash, except what a rehearsal may append to. */
function fingerprint(ws: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of listFiles(ws)) {
    if (f.startsWith('rehearsal/') || f.startsWith('metadata/audit.') || f.startsWith('snapshots/locks/')) continue;
    out[f] = sha256(readFileSync(join(ws, f)));
  }
  return out;
}

function withGates(ws: string, gates: unknown[]): void {
  const cfg = readJsonFile<Record<string, unknown>>(join(ws, 'snapgov.json'));
  writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, gates }));
}

describe('snapgov rehearse', () => {
  it('drills every scenario in a sandbox, recovers each with zero data loss, and never touches the live tree or the store', () => {
    const ws = sampleWorkspace();
    withGates(ws, [{ name: 'index' }, { name: 'smoke', run: 'test -x bin/deploy.sh && test -f artifacts/rules/a.yaml' }]);
    const snap = runJson<{ id: string }>(ws, ['create']).doc.id;
    const before = fingerprint(ws);
    const r = runJson<Report>(ws, ['rehearse', '--seed', '42']);
    expect(r.code, JSON.stringify(r.doc.scenarios?.map((s) => s.failures))).toBe(0);
    expect(fingerprint(ws)).toEqual(before);

    const doc = r.doc;
    expect(validReport(doc), JSON.stringify(validReport.errors)).toBe(true);
    expect(doc.ok).toBe(true);
    expect(doc.snapshot).toMatchObject({ id: snap, picked: 'latest', files: 5 });
    expect(doc.seed).toBe(42);
    expect(doc.sandbox.kept).toBe(false);
    expect(existsSync(doc.sandbox.path)).toBe(false);
    expect(doc.scenarios.map((s) => s.name)).toEqual(ALL);
    for (const s of doc.scenarios) {
      expect(s.status, `${s.name}: ${s.failures.join('; ')}`).toBe('passed');
      expect(s.detected, s.name).toBe(true);
      expect(s.recovered, s.name).toBe(true);
      expect(s.dataLoss, s.name).toEqual({ files: 0, bytes: 0, paths: [] });
      expect(s.injected!.description.length, s.name).toBeGreaterThan(5);
      expect(s.gates.map((g) => [g.name, g.ok])).toEqual([
        ['index', true],
        ['smoke', true],
      ]);
      expect(s.recoveryMs).toBe(s.phases.detect! + s.phases.rollback! + s.phases.verify!);
      expect(s.sla.map((x) => [x.name, x.met])).toEqual([
        ['snapshot', true],
        ['verify', true],
        ['rollback', true],
        ['recovery', true],
      ]);
      expect(s.sla[3]!.marginMs).toBe(300_000 - s.recoveryMs);
    }
    expect(doc.scenarios.find((s) => s.name === 'artifact-bitflip')!.injected!.description).toMatch(/^bit \d of byte \d+ of \S+ flipped \(size and mtime kept\)$/);

    // the report files: report.json is what --json printed; the audit entry carries its digest
    const dir = join(ws, doc.reportPath);
    expect(doc.reportPath).toBe(`rehearsal/${doc.id}`);
    const json = readFileSync(join(dir, 'report.json'));
    expect(JSON.parse(json.toString())).toEqual(doc);
    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    expect(md).toContain(`# Rollback rehearsal ${doc.id}: PASSED`);
    expect(md).toContain('## tree-wiped: passed');
    expect(md).toMatch(/\| \*\*recovery\*\* \(detect \+ rollback \+ verify\) \| \*\*\d+ ms\*\* \|/);
    const audit = runJson<{ entries: { action: string; to: string; outcome: string; details: { reportSha256: string; report: string } }[] }>(ws, ['audit']).doc.entries;
    const entry = audit[audit.length - 1]!;
    expect(entry).toMatchObject({ action: 'rehearse', to: snap, outcome: 'success' });
    expect(entry.details.reportSha256).toBe(sha256(json));
    expect(run(ws, ['audit', 'verify']).code).toBe(0);
  });

  it('injects the same damage for the same seed; --scenario runs a subset; --keep-sandbox keeps it', () => {
    const ws = sampleWorkspace();
    runJson(ws, ['create']);
    const a = runJson<Report>(ws, ['rehearse', '--seed', '9', '--scenario', 'artifact-bitflip', '--scenario', 'stray-file']);
    const sandbox = join(tempDir(), 'sb');
    const b = runJson<Report>(ws, ['rehearse', '--seed', '9', '--scenario', 'artifact-bitflip', '--scenario', 'stray-file', '--sandbox', sandbox, '--keep-sandbox']);
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    expect(b.doc.scenarios.map((s) => s.injected)).toEqual(a.doc.scenarios.map((s) => s.injected));
    expect(b.doc.scenarios.map((s) => s.name)).toEqual(['artifact-bitflip', 'stray-file']);
    expect(b.doc.sandbox).toMatchObject({ path: sandbox, kept: true, objects: 'hardlink' });
    // the kept sandbox holds the recovered tree and its own store
    expect(readFileSync(join(sandbox, 'ws/artifacts/rules/b.yaml'), 'utf8')).toBe('rule: b\n');
    expect(readdirSync(join(sandbox, 'store/metadata')).filter((n) => n.endsWith('.json') && n !== 'live.json').length).toBeGreaterThanOrEqual(2);
    expect(readdirSync(join(ws, 'rehearsal')).filter((n) => !n.startsWith('.'))).toHaveLength(2);
  });

  it('fails, with the right report, when an SLA is breached', () => {
    const ws = sampleWorkspace();
    runJson(ws, ['create']);
    const r = runJson<Report>(ws, ['rehearse', '--scenario', 'artifact-deleted', '--sla-recovery', '1ms', '--sla-rollback', '1ms']);
    expect(r.code).toBe(1);
    expect(r.doc.ok).toBe(false);
    const s = r.doc.scenarios[0]!;
    expect(s.status).toBe('failed');
    expect(s.detected && s.recovered).toBe(true);
    expect(s.sla.find((x) => x.name === 'recovery')).toMatchObject({ limitMs: 1, met: false });
    expect(s.sla.find((x) => x.name === 'recovery')!.marginMs).toBeLessThan(0);
    expect(s.failures.some((f) => /^recovery SLA breached: \d+ ms against 1 ms$/.test(f))).toBe(true);
    const md = readFileSync(join(ws, r.doc.reportPath, 'report.md'), 'utf8');
    expect(md).toContain('# Rollback rehearsal');
    expect(md).toContain('FAILED');
    expect(md).toContain('- recovery SLA breached');
    const audit = runJson<{ entries: { action: string; outcome: string }[] }>(ws, ['audit']).doc.entries;
    expect(audit[audit.length - 1]).toMatchObject({ action: 'rehearse', outcome: 'failure' });
  });

  it('fails when a store object is corrupt: the restore is refused and reported as not run (no data loss is claimed), the store is left as it was', () => {
    const ws = sampleWorkspace({ 'models/big.bin': Buffer.alloc(2 << 20, 3) });
    const snap = runJson<{ id: string }>(ws, ['create']).doc.id;
    const hash = sha256(Buffer.alloc(2 << 20, 3));
    const obj = join(ws, 'snapshots/objects', hash.slice(0, 2), hash);
    const bytes = readFileSync(obj);
    bytes[100] ^= 1;
    writeFileSync(obj, bytes);
    const before = fingerprint(ws);
    const r = runJson<Report>(ws, ['rehearse', snap.slice(7, 19), '--scenario', 'stray-file']);
    expect(r.code).toBe(1);
    const s = r.doc.scenarios[0]!;
    expect(s.status).toBe('failed');
    expect(s.errors[0]).toMatch(/^the restore failed: snapshot \w{12} cannot be restored: an object it needs is damaged, for example models\/big.bin/);
    expect(s.recovered).toBe(false);
    expect(s.restored).toBe(false);
    expect(s.dataLoss.files).toBe(0);
    expect(s.failures).toContain('the drill did not run: the snapshot could not be restored into the sandbox (no data loss was measured)');
    expect(fingerprint(ws)).toEqual(before);
  });

  it('fails when a gate fails in the sandbox', () => {
    const ws = sampleWorkspace();
    withGates(ws, [{ name: 'smoke', run: 'echo broken >&2; exit 3' }]);
    runJson(ws, ['create']);
    const r = runJson<Report>(ws, ['rehearse', '--scenario', 'mode-changed']);
    expect(r.code).toBe(1);
    expect(r.doc.scenarios[0]!.gates).toEqual([{ name: 'smoke', ok: false, durationMs: expect.any(Number) as number }]);
    expect(r.doc.scenarios[0]!.failures).toContain('gate smoke failed');
  });

  it('skips the index scenarios in a workspace without an index', () => {
    const ws = tempDir();
    writeTree(ws, { 'a.txt': 'a\n', 'sub/b.bin': Buffer.alloc(5000, 1) });
    expect(run(ws, ['init', '--no-index']).code).toBe(0);
    runJson(ws, ['create']);
    const r = runJson<Report>(ws, ['rehearse']);
    expect(r.code).toBe(0);
    expect(r.doc.totals).toMatchObject({ passed: 5, failed: 0, skipped: 2 });
    expect(r.doc.scenarios[0]).toMatchObject({ name: 'index-truncated', status: 'skipped', skipReason: 'the workspace has no artifact index in this snapshot' });
  });

  it('--pick random picks from the window; bad options are refused', () => {
    const ws = sampleWorkspace();
    runJson(ws, ['create', '--time', '2020-01-01T00:00:00Z']);
    writeFileSync(join(ws, 'artifacts/rules/b.yaml'), 'rule: b\n');
    writeFileSync(join(ws, 'notes.txt'), 'recent\n');
    const recent = runJson<{ id: string }>(ws, ['create']).doc.id;
    const r = runJson<Report>(ws, ['rehearse', '--pick', 'random', '--window', '7d', '--scenario', 'stray-file']);
    expect(r.code).toBe(0);
    expect(r.doc.snapshot.id).toBe(recent);
    expect(r.doc.snapshot.picked).toBe('random from 1 snapshot(s) of the last 7d');
    const cases: [string[], number, string][] = [
      [['rehearse', '--scenario', 'meteor-strike'], 2, 'USAGE'],
      [['rehearse', '--pick', 'oldest'], 2, 'USAGE'],
      [['rehearse', 'latest', '--pick', 'random'], 2, 'USAGE'],
      [['rehearse', '--seed', 'abc'], 2, 'USAGE'],
      [['rehearse', '--sla-verify', 'soon'], 2, 'USAGE'],
      [['rehearse', '--sandbox', join(ws, 'artifacts', 'drill')], 2, 'USAGE'],
      [['rehearse', '--sandbox', join(ws, 'artifacts')], 2, 'USAGE'],
      [['rehearse', 'ffff0000'], 2, 'REF_UNKNOWN'],
    ];
    const before = fingerprint(ws);
    for (const [args, code, err] of cases) {
      const x = runJson(ws, args);
      expect(x.code, args.join(' ')).toBe(code);
      expect(x.error!.code, args.join(' ')).toBe(err);
      expect(x.error!.hint).not.toBe('');
    }
    expect(fingerprint(ws)).toEqual(before);
    expect(existsSync(join(ws, 'artifacts', 'drill'))).toBe(false);
    // an old history only: nothing to pick from
    const old = sampleWorkspace();
    runJson(old, ['create', '--time', '2020-01-01T00:00:00Z']);
    const none = runJson(old, ['rehearse', '--pick', 'random']);
    expect(none.code).toBe(2);
    expect(none.error!.message).toMatch(/no snapshot in the last 30d/);
  });
});
