import { describe, expect, it } from 'vitest';
import { rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { BIN, run, runJson, sampleWorkspace, sha256, tempDir } from '../helpers/cli.js';
import { serializeManifest, snapshotIdOf } from '../../src/core/manifest.js';
import type { ListItem } from '../../src/commands/list.js';

type Item = ListItem;

describe('snapgov list, info, diff, status', () => {
  it('lists newest first with the documented fields', () => {
    const ws = sampleWorkspace();
    const a = runJson<{ id: string }>(ws, ['create', '--time', '2026-01-01T00:00:00Z', '--trigger', 'cron']).doc.id;
    writeFileSync(join(ws, 'x.txt'), 'x');
    const b = runJson<{ id: string }>(ws, ['create', '--time', '2026-01-02T00:00:00Z', '--env', 'staging', '--tag', 't', '--label', 'k=v']).doc.id;
    const r = runJson<{ snapshots: Item[] }>(ws, ['list']);
    expect(r.code).toBe(0);
    expect(r.doc.snapshots.map((s) => s.id)).toEqual([b, a]);
    expect(r.doc.snapshots[0]).toMatchObject({ time: '2026-01-02T00:00:00.000Z', trigger: 'manual', env: 'staging', tags: ['t'], labels: { k: 'v' }, files: 6, signatures: 0 });
    expect(r.doc.snapshots[1]).toMatchObject({ trigger: 'cron', env: null, files: 5 });
    const human = run(ws, ['list']).stdout;
    expect(human.indexOf(b.slice(7, 19))).toBeLessThan(human.indexOf(a.slice(7, 19)));
    expect(run(ws, ['--quiet', 'list']).stdout).toBe('');
  });

  it('shows info for every kind of REF and refuses bad ones with exit 2', () => {
    const ws = sampleWorkspace();
    const a = runJson<{ id: string }>(ws, ['create', '--time', '2026-01-01T00:00:00Z']).doc.id;
    writeFileSync(join(ws, 'x.txt'), 'x');
    const b = runJson<{ id: string }>(ws, ['create', '--time', '2026-01-02T00:00:00Z']).doc.id;
    for (const [ref, id] of [['latest', b], ['latest~1', a], [a, a], [b.slice(7, 15), b], [`sha256:${a.slice(7, 13)}`, a]] as const) {
      const r = runJson<{ id: string; index: { artifacts: number }; live: boolean }>(ws, ['info', ref]);
      expect(r.code, ref).toBe(0);
      expect(r.doc.id).toBe(id);
      expect(r.doc.index.artifacts).toBe(2);
    }
    expect(runJson<{ live: boolean }>(ws, ['info', 'latest']).doc.live).toBe(true);
    for (const ref of ['latest~2', 'deadbeef', 'xyz', 'sha256:']) {
      const r = runJson(ws, ['info', ref]);
      expect(r.code, ref).toBe(2);
      expect(r.error!.code).toBe('REF_UNKNOWN');
    }
  });

  it('says which candidates an ambiguous prefix matches (exit 2)', () => {
    // Find two one-file trees whose snapshot IDs share 4 hex digits (birthday search on pure code).
    const idOf = (content: string) => snapshotIdOf(serializeManifest([{ path: 'n.txt', type: 'file', mode: '0644', size: content.length, sha256: sha256(content) }]));
    const seen = new Map<string, string>();
    let pair: [string, string] | null = null;
    for (let i = 0; !pair; i++) {
      const p = idOf(String(i)).slice(7, 11);
      if (seen.has(p)) pair = [seen.get(p)!, String(i)];
      else seen.set(p, String(i));
    }
    const ws = tempDir();
    expect(run(ws, ['init', '--no-index']).code).toBe(0);
    const ids = pair.map((c) => {
      writeFileSync(join(ws, 'n.txt'), c);
      return runJson<{ id: string }>(ws, ['create']).doc.id;
    });
    expect(ids).toEqual(pair.map(idOf));
    const r = runJson<unknown>(ws, ['info', ids[0]!.slice(7, 11)]);
    expect(r.code).toBe(2);
    expect(r.error!.code).toBe('REF_AMBIGUOUS');
    expect(r.error!.hint).toContain(ids[0]!.slice(7, 19));
    expect(r.error!.hint).toContain(ids[1]!.slice(7, 19));
    expect(runJson(ws, ['info', ids[1]!.slice(7, 20)]).code).toBe(0);
    expect(runJson(ws, ['info', ids[0]!.slice(7, 10)]).error!.hint).toMatch(/at least 4/);
  });

  it('diffs two snapshots and a snapshot against the live tree', () => {
    const ws = sampleWorkspace();
    const a = runJson<{ id: string }>(ws, ['create']).doc.id;
    writeFileSync(join(ws, 'artifacts/rules/a.yaml'), 'rule: a2\n');
    rmSync(join(ws, 'bin/deploy.sh'));
    writeFileSync(join(ws, 'new.txt'), 'n');
    chmodSync(join(ws, 'artifacts/rules/b.yaml'), 0o755);
    rmSync(join(ws, 'current'));
    symlinkSync('artifacts/rules/b.yaml', join(ws, 'current'));
    const live = runJson<{ added: string[]; removed: string[]; modified: string[]; changes: { kind: string }[] }>(ws, ['diff', a]);
    expect(live.code).toBe(0);
    expect(live.doc).toMatchObject({ added: ['new.txt'], removed: ['bin/deploy.sh'], modified: ['artifacts/rules/a.yaml', 'artifacts/rules/b.yaml', 'current'] });
    expect(live.doc.changes.map((c) => c.kind)).toEqual(['content', 'mode', 'target']);
    const b = runJson<{ id: string }>(ws, ['create', '--allow-inconsistent-index']).doc.id;
    const two = runJson<{ added: string[]; removed: string[]; modified: string[] }>(ws, ['diff', a, b]);
    expect(two.doc).toMatchObject({ added: ['new.txt'], removed: ['bin/deploy.sh'], modified: ['artifacts/rules/a.yaml', 'artifacts/rules/b.yaml', 'current'] });
    expect(runJson<{ added: string[] }>(ws, ['diff', b, a]).doc.added).toEqual(['bin/deploy.sh']);
    expect(run(ws, ['diff', a, b]).stdout).toMatch(/\+ new\.txt/);
  });

  it('status names the live snapshot and what drifted', () => {
    const ws = sampleWorkspace();
    const before = runJson<{ live: null; clean: boolean; added: string[] }>(ws, ['status']);
    expect(before.doc.live).toBeNull();
    expect(before.doc.added).toHaveLength(5);
    const id = runJson<{ id: string }>(ws, ['create']).doc.id;
    const clean = runJson<{ live: { id: string }; clean: boolean }>(ws, ['status']);
    expect(clean.doc.live.id).toBe(id);
    expect(clean.doc.clean).toBe(true);
    writeFileSync(join(ws, 'artifacts/rules/b.yaml'), 'changed');
    const dirty = runJson<{ clean: boolean; modified: string[] }>(ws, ['status']);
    expect(dirty.code).toBe(0);
    expect(dirty.doc).toMatchObject({ clean: false, modified: ['artifacts/rules/b.yaml'] });
    expect(run(ws, ['status']).stdout).toMatch(/M artifacts\/rules\/b\.yaml \(content\)/);
  });
});

describe('colours', () => {
  it('are off without a terminal and with NO_COLOR or --no-color, on with FORCE_COLOR', () => {
    const ws = sampleWorkspace();
    runJson(ws, ['create']);
    const esc = /\u001b\[/;
    const env = { ...process.env };
    delete env.NO_COLOR;
    const plain = spawnSync(process.execPath, [BIN, 'list'], { cwd: ws, encoding: 'utf8', env });
    expect(plain.stdout).not.toMatch(esc);
    expect(spawnSync(process.execPath, [BIN, 'list'], { cwd: ws, encoding: 'utf8', env: { ...env, FORCE_COLOR: '1' } }).stdout).toMatch(esc);
    expect(spawnSync(process.execPath, [BIN, 'list'], { cwd: ws, encoding: 'utf8', env: { ...env, FORCE_COLOR: '1', NO_COLOR: '1' } }).stdout).not.toMatch(esc);
    expect(spawnSync(process.execPath, [BIN, '--no-color', 'list'], { cwd: ws, encoding: 'utf8', env: { ...env, FORCE_COLOR: '1' } }).stdout).not.toMatch(esc);
  });
});
