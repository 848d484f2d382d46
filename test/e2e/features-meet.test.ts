// Where features meet (issue 19): each test fails without its fix.
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listFiles, readJsonFile, run, runJson, sampleWorkspace, sha256, tempDir } from '../helpers/cli.js';

const manifests = (ws: string) => readdirSync(join(ws, 'snapshots/manifests'));

describe('secret keys and the store', () => {
  it('keygen refuses a secret key inside the managed tree and writes it outside', () => {
    const ws = sampleWorkspace();
    // a config from before key files were excluded by default
    const cfg = readJsonFile<{ exclude: string[] }>(join(ws, 'snapgov.json'));
    expect(cfg.exclude).toEqual(['.git/**', '**/*.sec.asc', '**/*.key']);
    writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, exclude: ['.git/**'] }));
    const inside = runJson(ws, ['keygen', '--sigstore', '-o', 'artifacts/signing']);
    expect(inside.code).toBe(2);
    expect(inside.error!.message).toContain('inside the managed tree');
    expect(inside.error!.hint).toContain('outside the workspace');
    expect(existsSync(join(ws, 'artifacts/signing.key'))).toBe(false);
    const keys = tempDir('snapgov-keys-');
    expect(runJson(ws, ['keygen', '--sigstore', '-o', join(keys, 'signing')]).code).toBe(0);
  });

  it('excludes secret key files by default, so a key dropped into the tree never reaches a snapshot', () => {
    const ws = sampleWorkspace({ 'keys/release.sec.asc': '-----BEGIN PGP PRIVATE KEY BLOCK-----\n', 'keys/cosign.key': 'secret', 'keys/cosign.pub': 'public' });
    const c = runJson<{ id: string; files: number }>(ws, ['create']);
    expect(c.code).toBe(0);
    const listed = readFileSync(join(ws, 'snapshots/manifests', `${c.doc.id.slice(7)}.json`), 'utf8');
    expect(listed).toContain('keys/cosign.pub');
    expect(listed).not.toContain('cosign.key');
    expect(listed).not.toContain('release.sec.asc');
  });

  it('keeps the store folders and exports readable by the owner only', () => {
    const ws = sampleWorkspace();
    expect(runJson(ws, ['create']).code).toBe(0);
    for (const d of ['snapshots', 'metadata', 'rehearsal']) expect(statSync(join(ws, d)).mode & 0o077).toBe(0);
    const out = join(tempDir(), 'x.tar');
    expect(run(ws, ['export', 'latest', '-o', out]).code).toBe(0);
    expect(statSync(out).mode & 0o077).toBe(0);
  });
});

describe('create --sign with a key problem', () => {
  it('exits 12 before anything is written', () => {
    const ws = sampleWorkspace();
    const keys = tempDir('snapgov-keys-');
    const pass = join(keys, 'pass');
    writeFileSync(pass, 'right\n');
    expect(run(ws, ['keygen', '--pgp', '--name', 'R', '--email', 'r@example.com', '-o', join(keys, 'r'), '--passphrase-file', pass]).code).toBe(0);
    writeFileSync(pass, 'wrong\n');
    const before = listFiles(join(ws, 'snapshots'));
    const r = runJson(ws, ['create', '--sign'], { SNAPGOV_PGP_KEY: '' });
    expect(r.code).toBe(2); // no signer configured
    const bad = runJson(ws, ['create', '--sign'], { SNAPGOV_PGP_KEY: readFileSync(join(keys, 'r.sec.asc'), 'utf8'), SNAPGOV_PGP_PASSPHRASE: 'wrong' });
    expect(bad.code).toBe(12);
    expect(bad.error!.code).toBe('KEY_ERROR');
    expect(manifests(ws)).toEqual([]);
    expect(listFiles(join(ws, 'snapshots')).filter((f) => !f.startsWith('locks/'))).toEqual(before.filter((f) => !f.startsWith('locks/')));
    const good = runJson<{ signature: { signer: string } }>(ws, ['create', '--sign'], { SNAPGOV_PGP_KEY: readFileSync(join(keys, 'r.sec.asc'), 'utf8'), SNAPGOV_PGP_PASSPHRASE: 'right' });
    expect(good.code).toBe(0);
    expect(good.doc.signature.signer).toMatch(/^[0-9A-F]{40}$/);
  });
});

describe('last known good', () => {
  it('skips snapshots recorded as inconsistent or incomplete, listing them as rejected', () => {
    const ws = sampleWorkspace();
    const first = runJson<{ id: string }>(ws, ['create']).doc.id;
    writeFileSync(join(ws, 'artifacts/rules/a.yaml'), 'rule: changed without the index\n');
    const inconsistent = runJson<{ id: string }>(ws, ['create', '--allow-inconsistent-index']).doc.id;
    writeFileSync(join(ws, 'artifacts/rules/b.yaml'), 'rule: b2\n');
    const incomplete = runJson<{ id: string }>(ws, ['create', '--allow-inconsistent-index']).doc.id;
    // root reads every file, so "files were skipped" is recorded here as create records it
    const mdPath = join(ws, 'metadata', `${incomplete.slice(7)}.json`);
    writeFileSync(mdPath, JSON.stringify({ ...readJsonFile(mdPath), incomplete: true }, null, 2) + '\n');
    const a = 'rule: a3\n';
    writeFileSync(join(ws, 'artifacts/rules/a.yaml'), a);
    writeFileSync(join(ws, 'artifacts/rules/b.yaml'), 'rule: b\n');
    writeFileSync(join(ws, 'artifacts/index.json'), JSON.stringify({ artifacts: [{ path: 'rules/a.yaml', sha256: sha256(a) }, { path: 'rules/b.yaml', sha256: sha256('rule: b\n') }] }));
    expect(runJson(ws, ['create']).code).toBe(0);
    const r = runJson<{ to: string; chosen: { rejected: { id: string; problems: string[] }[] } }>(ws, ['rollback', '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.doc.to).toBe(first);
    const why = (id: string) => r.doc.chosen.rejected.find((x) => x.id === id)?.problems.join(' ');
    expect(why(inconsistent)).toContain('inconsistent artifact index');
    expect(why(incomplete)).toContain('incomplete');
  });
});
