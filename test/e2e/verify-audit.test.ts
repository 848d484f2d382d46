import { describe, expect, it } from 'vitest';
import { chmodSync, readFileSync, readdirSync, rmSync, writeFileSync, truncateSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { run, runJson, sampleWorkspace, sha256 } from '../helpers/cli.js';

interface Verify {
  ok: boolean;
  snapshots: { id: string; ok: boolean; problems: { code: string; path: string; message: string }[] }[];
}

const hex = (id: string) => id.slice(7);

function flipByteAt(file: string, offset: number): void {
  chmodSync(file, 0o644);
  const b = readFileSync(file);
  b[offset] = b[offset]! ^ 0x01;
  writeFileSync(file, b);
}

function packOf(ws: string): string {
  const dir = join(ws, 'snapshots/packs');
  return join(dir, readdirSync(dir)[0]!);
}

describe('snapgov verify', () => {
  it('passes a sound store at every level', () => {
    const ws = sampleWorkspace({ 'big.bin': randomBytes(2 << 20) });
    const id = runJson<{ id: string }>(ws, ['create']).doc.id;
    const r = runJson<Verify>(ws, ['verify', '--read-data', '--worktree']);
    expect(r.code).toBe(0);
    expect(r.doc).toEqual({ format: 'snapgov-verify/1', ok: true, readData: true, worktree: true, signaturesRequired: false, snapshots: [{ id, ok: true, integrity: true, problems: [], signatures: [], trustSatisfied: false }] });
    expect(run(ws, ['verify']).stdout).toMatch(/verified 1 snapshot/);
  });

  it('finds a bit flip in a packed object only with --read-data and names the file', () => {
    const ws = sampleWorkspace();
    runJson(ws, ['create']);
    flipByteAt(packOf(ws), 2);
    expect(runJson<Verify>(ws, ['verify']).code).toBe(0);
    const r = runJson<Verify>(ws, ['verify', '--read-data']);
    expect(r.code).toBe(1);
    expect(r.doc.ok).toBe(false);
    const p = r.doc.snapshots[0]!.problems;
    expect(p).toHaveLength(1);
    expect(p[0]).toMatchObject({ code: 'OBJECT_CORRUPT' });
    expect(p[0]!.path).toMatch(/^artifacts\//);
  });

  it('finds truncated, zero-byte and missing loose objects structurally', () => {
    const big = randomBytes(2 << 20);
    const big2 = randomBytes(2 << 20);
    const ws = sampleWorkspace({ 'a.bin': big, 'b.bin': big2 });
    runJson(ws, ['create']);
    const h = sha256(big);
    const h2 = sha256(big2);
    const obj = join(ws, 'snapshots/objects', h.slice(0, 2), h);
    chmodSync(obj, 0o644);
    truncateSync(obj, 1000);
    rmSync(join(ws, 'snapshots/objects', h2.slice(0, 2), h2));
    const r = runJson<Verify>(ws, ['verify']);
    expect(r.code).toBe(1);
    expect(r.doc.snapshots[0]!.problems.map((x) => `${x.code} ${x.path}`).sort()).toEqual(['OBJECT_MISSING b.bin', 'OBJECT_SIZE_MISMATCH a.bin']);
    truncateSync(obj, 0);
    expect(runJson<Verify>(ws, ['verify']).doc.snapshots[0]!.problems.map((x) => x.code)).toContain('OBJECT_SIZE_MISMATCH');
  });

  it('finds a corrupted manifest and invalid metadata', () => {
    const ws = sampleWorkspace();
    const id = runJson<{ id: string }>(ws, ['create']).doc.id;
    const m = join(ws, 'snapshots/manifests', `${hex(id)}.json`);
    flipByteAt(m, 30);
    const r = runJson<Verify>(ws, ['verify', '--all']);
    expect(r.code).toBe(1);
    expect(r.doc.snapshots[0]!.problems.map((p) => p.code)).toEqual(['MANIFEST_DIGEST_MISMATCH']);
    flipByteAt(m, 30);
    const md = join(ws, 'metadata', `${hex(id)}.json`);
    writeFileSync(md, JSON.stringify({ ...JSON.parse(readFileSync(md, 'utf8')), trigger: 'bogus' }));
    const r2 = runJson<Verify>(ws, ['verify', id]);
    expect(r2.code).toBe(1);
    expect(r2.doc.snapshots[0]!.problems[0]).toMatchObject({ code: 'METADATA_INVALID' });
    // list still works and reports the unreadable snapshot
    const list = run(ws, ['list']);
    expect(list.code).toBe(0);
    expect(list.stderr).toMatch(/invalid/);
  });

  it('reports drift and index problems with --worktree, against the snapshot the live tree is at', () => {
    const ws = sampleWorkspace();
    const first = runJson<{ id: string }>(ws, ['create']).doc.id;
    writeFileSync(join(ws, 'artifacts/rules/a.yaml'), 'rule: tampered\n');
    writeFileSync(join(ws, 'stray.txt'), 'stray');
    chmodSync(join(ws, 'bin/deploy.sh'), 0o644);
    const r = runJson<Verify>(ws, ['verify', '--worktree']);
    expect(r.code).toBe(1);
    expect(r.doc.snapshots[0]!.id).toBe(first);
    const codes = r.doc.snapshots[0]!.problems.map((p) => `${p.code} ${p.path}`);
    expect(codes).toEqual(['DRIFT_ADDED stray.txt', 'DRIFT_MODIFIED artifacts/rules/a.yaml', 'DRIFT_MODIFIED bin/deploy.sh', 'ARTIFACT_DIGEST_MISMATCH artifacts/rules/a.yaml']);
  });

  it('rejects --all together with refs, and an empty store', () => {
    const ws = sampleWorkspace();
    expect(runJson(ws, ['verify']).code).toBe(2);
    runJson(ws, ['create']);
    expect(runJson(ws, ['verify', '--all', 'latest']).code).toBe(2);
  });
});

describe('snapgov audit', () => {
  it('records every mutation in a hash chain that audit verify checks', () => {
    const ws = sampleWorkspace();
    const a = runJson<{ id: string }>(ws, ['create', '-m', 'why']).doc.id;
    writeFileSync(join(ws, 'x'), 'x');
    runJson(ws, ['create']);
    runJson(ws, ['create']); // unchanged: not a mutation, not recorded
    const log = runJson<{ entries: { seq: number; action: string; to?: string; reason?: string; actor: { user: string; host: string }; requestId: string; outcome: string; prev: string | null }[] }>(ws, ['audit']);
    expect(log.doc.entries.map((e) => `${e.seq}:${e.action}`)).toEqual(['1:init', '2:create', '3:create']);
    expect(log.doc.entries[1]).toMatchObject({ to: a, reason: 'why', outcome: 'success', prev: expect.stringMatching(/^sha256:/) });
    expect(log.doc.entries[0]!.prev).toBeNull();
    expect(runJson<{ entries: unknown[] }>(ws, ['audit', '--limit', '1']).doc.entries).toHaveLength(1);
    const ok = runJson<{ ok: boolean; entries: number }>(ws, ['audit', 'verify']);
    expect(ok.code).toBe(0);
    expect(ok.doc).toMatchObject({ ok: true, entries: 3 });
  });

  it.each([
    ['an edited line', (lines: string[]) => [lines[0]!, lines[1]!.replace('"create"', '"prune"'), lines[2]!]],
    ['a deleted line', (lines: string[]) => [lines[0]!, lines[2]!]],
    ['reordered lines', (lines: string[]) => [lines[0]!, lines[2]!, lines[1]!]],
    ['a removed last line', (lines: string[]) => lines.slice(0, 2)],
  ])('detects %s (exit 1)', (_name, tamper) => {
    const ws = sampleWorkspace();
    runJson(ws, ['create']);
    writeFileSync(join(ws, 'x'), 'x');
    runJson(ws, ['create']);
    const file = join(ws, 'metadata/audit.log');
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    writeFileSync(file, tamper(lines).join('\n') + '\n');
    const r = runJson<{ ok: boolean; problems: { line: number; message: string }[] }>(ws, ['audit', 'verify']);
    expect(r.code).toBe(1);
    expect(r.doc.ok).toBe(false);
    expect(r.doc.problems.length).toBeGreaterThan(0);
    expect(run(ws, ['audit', 'verify']).stdout).toMatch(/audit log damaged/);
  });

  it('finishes an append cut short by a crash (a partial last line) without breaking the chain', () => {
    const ws = sampleWorkspace();
    runJson(ws, ['create']);
    const file = join(ws, 'metadata/audit.log');
    writeFileSync(file, readFileSync(file, 'utf8') + '{"seq":3,"tim');
    writeFileSync(join(ws, 'x'), 'x');
    expect(runJson(ws, ['create']).code).toBe(0);
    expect(runJson<{ ok: boolean }>(ws, ['audit', 'verify']).doc.ok).toBe(true);
  });
});
