import { describe, expect, it } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonFile, run, runJson, tempDir, writeTree } from '../helpers/cli.js';

describe('snapgov init', () => {
  it('writes a valid config, detects the index and creates the store folders', () => {
    const ws = tempDir();
    writeTree(ws, { 'artifacts/index.json': '{"artifacts":[]}' });
    const r = runJson<{ index: string; include: string[]; exclude: string[] }>(ws, ['init']);
    expect(r.code).toBe(0);
    expect(r.doc.index).toBe('artifacts/index.json');
    expect(r.doc.include).toEqual(['**']);
    expect(r.doc.exclude).toEqual(['.git/**', '**/*.sec.asc', '**/*.key']);
    const cfg = readJsonFile(join(ws, 'snapgov.json'));
    expect(cfg).toMatchObject({ version: 1, index: { path: 'artifacts/index.json' } });
    for (const d of ['snapshots/manifests', 'snapshots/packs', 'snapshots/objects', 'metadata', 'rehearsal']) expect(existsSync(join(ws, d))).toBe(true);
    const audit = runJson<{ entries: { action: string }[] }>(ws, ['audit']);
    expect(audit.doc.entries.map((e) => e.action)).toEqual(['init']);
  });

  it('falls back to index.json, then to no index', () => {
    const a = tempDir();
    writeTree(a, { 'index.json': '[]' });
    expect(runJson<{ index: string }>(a, ['init']).doc.index).toBe('index.json');
    const b = tempDir();
    expect(runJson<{ index: null }>(b, ['init']).doc.index).toBeNull();
  });

  it('takes --index, --no-index, --include and --exclude', () => {
    const ws = tempDir();
    writeTree(ws, { 'cfg/idx.json': '{"artifacts":[]}' });
    const r = runJson<{ index: string; include: string[]; exclude: string[] }>(ws, ['init', '--index', 'cfg/idx.json', '--include', 'cfg/**', '--include', 'bin/**', '--exclude', '**/*.tmp']);
    expect(r.doc).toMatchObject({ index: 'cfg/idx.json', include: ['cfg/**', 'bin/**'], exclude: ['.git/**', '**/*.sec.asc', '**/*.key', '**/*.tmp'] });
    const ws2 = tempDir();
    writeTree(ws2, { 'index.json': '[]' });
    expect(runJson<{ index: null }>(ws2, ['init', '--no-index']).doc.index).toBeNull();
  });

  it('refuses to overwrite a config without --force (exit 2), and records the change with --force', () => {
    const ws = tempDir();
    expect(run(ws, ['init']).code).toBe(0);
    const again = runJson(ws, ['init']);
    expect(again.code).toBe(2);
    expect(again.error).toMatchObject({ code: 'CONFIG_EXISTS' });
    expect(again.error!.hint).toMatch(/--force/);
    expect(runJson(ws, ['init', '--force', '--exclude', '**/*.tmp']).code).toBe(0);
    const audit = runJson<{ entries: { action: string }[] }>(ws, ['audit']);
    expect(audit.doc.entries.map((e) => e.action)).toEqual(['init', 'config-change']);
  });

  it('rejects an unsafe --index path', () => {
    const ws = tempDir();
    const r = runJson(ws, ['init', '--index', '../outside.json']);
    expect(r.code).toBe(2);
    expect(r.error!.message).toMatch(/\.\./);
    expect(existsSync(join(ws, 'snapgov.json'))).toBe(false);
  });

  it('reports a missing workspace with exit 10 and an invalid config with exit 2 naming the field', () => {
    const ws = tempDir();
    const none = runJson(ws, ['list']);
    expect(none.code).toBe(10);
    expect(none.error).toMatchObject({ code: 'NO_WORKSPACE' });
    expect(none.error!.hint).toMatch(/snapgov init/);

    expect(run(ws, ['init']).code).toBe(0);
    writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ version: 1, inclde: ['**'] }));
    const bad = runJson(ws, ['list']);
    expect(bad.code).toBe(2);
    expect(bad.error!.code).toBe('CONFIG_INVALID');
    expect(bad.error!.message).toMatch(/inclde/);

    writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ version: 1, index: { path: 'a', relativeTo: 'nowhere' } }));
    expect(runJson(ws, ['list']).error!.message).toMatch(/relativeTo/);

    writeFileSync(join(ws, 'snapgov.json'), '{ not json');
    const broken = runJson(ws, ['list']);
    expect(broken.code).toBe(2);
    expect(broken.error!.message).toMatch(/not valid JSON/);
  });

  it('finds the workspace from a subfolder and with -C', () => {
    const ws = tempDir();
    writeTree(ws, { 'deep/er/file.txt': 'x' });
    expect(run(ws, ['init']).code).toBe(0);
    expect(run(join(ws, 'deep', 'er'), ['list']).code).toBe(0);
    expect(run(tempDir(), ['-C', join(ws, 'deep'), 'list']).code).toBe(0);
    expect(runJson(ws, ['-C', join(ws, 'nope'), 'list']).code).toBe(10);
  });

  it('answers usage errors with exit 2 and a JSON error', () => {
    const ws = tempDir();
    const r = runJson(ws, ['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.error!.code).toBe('USAGE');
    expect(run(ws, ['--help']).code).toBe(0);
    expect(run(ws, ['--version']).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
