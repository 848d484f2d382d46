// Where features meet (issue 19): each test fails without its fix.
import { describe, expect, it } from 'vitest';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { BIN, hasCommand, listFiles, readJsonFile, run, runJson, sampleWorkspace, sha256, tempDir, writeTree } from '../helpers/cli.js';

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

describe('init --force keeps the config', () => {
  it('merges the flags into the existing settings and recreates missing store folders', () => {
    const ws = sampleWorkspace();
    const cfgPath = join(ws, 'snapgov.json');
    const cfg = { ...readJsonFile(cfgPath), trust: { required: true, threshold: 2 }, retention: { keepLast: 3, timezone: 'UTC' }, gates: [{ name: 'index' }] };
    writeFileSync(cfgPath, JSON.stringify(cfg, null, 2));
    rmSync(join(ws, 'metadata'), { recursive: true });
    const missing = runJson(ws, ['list']);
    expect(missing.code).toBe(10);
    expect(missing.error!.hint).toContain('keeps every setting');
    const r = runJson<{ changed: string[] }>(ws, ['init', '--force']);
    expect(r.code).toBe(0);
    expect(r.doc.changed).toEqual([]);
    expect(readJsonFile(cfgPath)).toEqual(cfg);
    expect(existsSync(join(ws, 'metadata'))).toBe(true);
    const ex = runJson<{ changed: string[]; exclude: string[] }>(ws, ['init', '--force', '--exclude', '**/*.tmp']);
    expect(ex.doc.changed).toEqual(['exclude']);
    expect(readJsonFile(cfgPath)).toEqual({ ...cfg, exclude: [...(cfg.exclude as string[]), '**/*.tmp'] });
  });

  it('never overwrites a config it cannot read', () => {
    const ws = sampleWorkspace();
    writeFileSync(join(ws, 'snapgov.json'), '{ "version": 1, broken');
    const r = runJson(ws, ['init', '--force']);
    expect(r.code).toBe(2);
    expect(readFileSync(join(ws, 'snapgov.json'), 'utf8')).toBe('{ "version": 1, broken');
  });
});

describe('init on a real index', () => {
  const art = (n: number) => `artifact ${n}\n`;
  it('finds the list under another key, the path field, the digest field and that paths are relative to the workspace root', () => {
    const ws = tempDir();
    const files = Object.fromEntries([1, 2, 3].map((n) => [`models/m${n}.bin`, art(n)]));
    writeTree(ws, { ...files, 'catalog/index.json': JSON.stringify({ meta: { v: 2 }, data: { items: [1, 2, 3].map((n) => ({ name: `m${n}`, file: `models/m${n}.bin`, checksum: `sha256:${sha256(art(n))}` })) } }) });
    const r = runJson<{ index: string; indexSettings: { entries: string; pathField: string; digestField: string; relativeTo: string; found: number; artifacts: number; detected: string[] } }>(ws, ['init', '--index', 'catalog/index.json']);
    expect(r.code).toBe(0);
    expect(r.doc.indexSettings).toMatchObject({ entries: '/data/items', pathField: 'file', digestField: 'checksum', relativeTo: 'workspace', found: 3, artifacts: 3 });
    expect(readJsonFile(join(ws, 'snapgov.json'))).toMatchObject({ index: { path: 'catalog/index.json', entries: '/data/items', pathField: 'file', digestField: 'checksum', relativeTo: 'workspace' } });
    const human = run(ws, ['init', '--force', '--index', 'catalog/index.json']);
    expect(human.stdout).toContain('paths relative to the workspace root');
    expect(runJson(ws, ['create']).code).toBe(0);
  });

  it('takes each index setting as a flag', () => {
    const ws = tempDir();
    writeTree(ws, { 'a.txt': 'a', 'idx.json': JSON.stringify({ list: [{ p: 'a.txt' }], other: [{ p: 'nope' }] }) });
    const r = runJson<{ indexSettings: { entries: string; pathField: string; relativeTo: string; detected: string[] } }>(ws, ['init', '--index', 'idx.json', '--index-entries', '/list', '--index-path-field', 'p', '--index-relative-to', 'workspace']);
    expect(r.code).toBe(0);
    expect(r.doc.indexSettings).toMatchObject({ entries: '/list', pathField: 'p', relativeTo: 'workspace' });
    expect(r.doc.indexSettings.detected).toEqual(['digest field']);
  });

  it('refuses a missing, a non-JSON and a YAML index, naming the fix', () => {
    const ws = tempDir();
    writeTree(ws, { 'index.yaml': 'apiVersion: v1\nentries: {}\n', 'bad.json': '{' });
    const missing = runJson(ws, ['init', '--index', 'nope.json']);
    expect(missing.code).toBe(2);
    expect(missing.error!.message).toContain('does not exist');
    expect(runJson(ws, ['init', '--index', 'bad.json']).error!.message).toContain('not JSON');
    const yaml = runJson(ws, ['init', '--index', 'index.yaml']);
    expect(yaml.error!.hint).toContain('yq -o json index.yaml > index.json');
    expect(existsSync(join(ws, 'snapgov.json'))).toBe(false);
  });

  it('names the setting that fixes an index error, and cuts a long list with "and N more"', () => {
    const ws = tempDir();
    const items = Array.from({ length: 14 }, (_, n) => ({ path: `x/f${n}` }));
    writeTree(ws, { 'x/f0': 'a', 'idx/index.json': JSON.stringify({ artifacts: items }) });
    expect(runJson(ws, ['init', '--index', 'idx/index.json', '--index-relative-to', 'workspace']).code).toBe(0);
    const cfgPath = join(ws, 'snapgov.json');
    writeFileSync(cfgPath, JSON.stringify({ ...readJsonFile<{ index: object }>(cfgPath), index: { path: 'idx/index.json', relativeTo: 'index' } }));
    const r = runJson(ws, ['create']);
    expect(r.code).toBe(1);
    expect(r.error!.code).toBe('INDEX_INCONSISTENT');
    expect(r.error!.message).toContain('and 4 more');
    expect(r.error!.hint).toContain('"index.relativeTo": "workspace"');
  });
});

describe('config changes leave a trace', () => {
  it('audits a hand edit of snapgov.json once, with both digests and the changed settings', () => {
    const ws = sampleWorkspace();
    const cfgPath = join(ws, 'snapgov.json');
    expect(runJson(ws, ['list']).code).toBe(0);
    const audit = () => runJson<{ entries: { action: string; details: { from: string | null; to: string; changed: string[] } }[] }>(ws, ['audit']).doc.entries;
    expect(audit().map((e) => e.action)).toEqual(['init']);
    const before = readFileSync(cfgPath);
    writeFileSync(cfgPath, JSON.stringify({ ...readJsonFile(cfgPath), trust: { required: false, threshold: 1 }, exclude: ['.git/**', 'secret/**'] }, null, 2));
    expect(runJson(ws, ['status']).code).toBe(0);
    expect(runJson(ws, ['list']).code).toBe(0);
    const entries = audit();
    expect(entries.map((e) => e.action)).toEqual(['init', 'config-change']);
    expect(entries[1]!.details).toEqual({ from: `sha256:${sha256(before)}`, to: `sha256:${sha256(readFileSync(cfgPath))}`, changed: ['exclude', 'trust'] });
    expect(runJson(ws, ['audit', 'verify']).code).toBe(0);
  });

  it('refuses a config that is not a regular file instead of hanging', () => {
    const ws = sampleWorkspace();
    rmSync(join(ws, 'snapgov.json'));
    execFileSync('mkfifo', [join(ws, 'snapgov.json')]);
    const r = runJson(ws, ['list']);
    expect(r.code).toBe(2);
    expect(r.error!.message).toContain('not a regular file');
  });
});

/** A workspace whose trust policy requires a Sigstore key signature, with that key as the default signer. */
function trustedWorkspace(): string {
  const ws = sampleWorkspace();
  const keys = tempDir('snapgov-keys-');
  expect(run(ws, ['keygen', '--sigstore', '-o', join(keys, 'ci')]).code).toBe(0);
  const cfgPath = join(ws, 'snapgov.json');
  writeFileSync(cfgPath, JSON.stringify({ ...readJsonFile(cfgPath), trust: { sigstoreKeys: [join(keys, 'ci.pub')], required: true }, signing: { method: 'sigstore-key', sigstoreKey: join(keys, 'ci.key') } }, null, 2));
  return ws;
}

describe('latest, live and tags after a rollback', () => {
  it('latest is the newest snapshot someone took, live is where the tree is, and a safety snapshot does not fail verify --all under trust.required', () => {
    const ws = trustedWorkspace();
    const first = runJson<{ id: string }>(ws, ['create', '--sign', '--tag', 'release-1']).doc.id;
    writeFileSync(join(ws, 'bin/deploy.sh'), '#!/bin/sh\necho v2\n');
    const second = runJson<{ id: string }>(ws, ['create', '--sign']).doc.id;
    writeFileSync(join(ws, 'bin/deploy.sh'), '#!/bin/sh\necho hotfix in place\n');
    const rb = runJson<{ to: string; safetySnapshot: string }>(ws, ['rollback', 'release-1', '--yes']);
    expect(rb.code).toBe(0);
    expect(rb.doc.to).toBe(first);
    const safety = rb.doc.safetySnapshot;
    expect([first, second]).not.toContain(safety);
    expect(runJson<{ id: string }>(ws, ['info', 'latest']).doc.id).toBe(second);
    expect(runJson<{ id: string }>(ws, ['info', 'live']).doc.id).toBe(first);
    expect(runJson<{ id: string }>(ws, ['info', 'tag:release-1']).doc.id).toBe(first);
    const v = runJson<{ ok: boolean; snapshots: { id: string; ok: boolean; integrity: boolean; trustExempt?: string }[] }>(ws, ['verify', '--all']);
    expect(v.code).toBe(0);
    const s = v.doc.snapshots.find((x) => x.id === safety)!;
    expect(s).toMatchObject({ ok: true, integrity: true });
    expect(s.trustExempt).toContain('safety snapshot');
    // an explicit --require-signature still holds it to the threshold, and says integrity is fine
    const strict = runJson<{ snapshots: { id: string; ok: boolean; integrity: boolean }[] }>(ws, ['verify', safety, '--require-signature']);
    expect(strict.code).toBe(1);
    expect(strict.doc.snapshots[0]).toMatchObject({ ok: false, integrity: true });
  });
});

describe('rehearse under trust.required', () => {
  it('passes on a signed snapshot (the sandbox sees the signatures and the trusted keys, relative paths too)', () => {
    const ws = trustedWorkspace();
    // trusted key paths relative to the workspace, as most configs write them
    const keys = join(ws, '..', `${ws.split('/').pop()}-keys`);
    mkdirSync(keys);
    const cfgPath = join(ws, 'snapgov.json');
    const cfg = readJsonFile<{ trust: { sigstoreKeys: string[] }; signing: { sigstoreKey: string } }>(cfgPath);
    cpSync(cfg.trust.sigstoreKeys[0]!, join(keys, 'ci.pub'));
    cpSync(cfg.signing.sigstoreKey, join(keys, 'ci.key'));
    const rel = `../${ws.split('/').pop()}-keys`;
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, trust: { ...cfg.trust, sigstoreKeys: [`${rel}/ci.pub`] }, signing: { ...cfg.signing, sigstoreKey: `${rel}/ci.key` } }, null, 2));
    try {
      expect(runJson(ws, ['create', '--sign']).code).toBe(0);
      const r = runJson<{ ok: boolean; scenarios: { name: string; status: string; failures: string[] }[] }>(ws, ['rehearse', '--scenario', 'artifact-deleted', '--scenario', 'artifact-bitflip']);
      expect(r.doc.scenarios.flatMap((s) => s.failures)).toEqual([]);
      expect(r.code).toBe(0);
    } finally {
      rmSync(keys, { recursive: true, force: true });
    }
  });

  it('reports a restore that could not run as not run, never as data loss', () => {
    const ws = sampleWorkspace();
    expect(runJson(ws, ['create']).code).toBe(0);
    // now require a signature the snapshot does not have: the restore in the sandbox is refused
    const cfgPath = join(ws, 'snapgov.json');
    writeFileSync(cfgPath, JSON.stringify({ ...readJsonFile(cfgPath), trust: { required: true } }, null, 2));
    const r = runJson<{ ok: boolean; scenarios: { status: string; restored?: boolean; failures: string[]; dataLoss: { files: number } }[] }>(ws, ['rehearse', '--scenario', 'artifact-bitflip']);
    expect(r.code).toBe(1);
    const s = r.doc.scenarios[0]!;
    expect(s).toMatchObject({ status: 'failed', restored: false, dataLoss: { files: 0 } });
    expect(s.failures.join(' ')).toContain('did not run');
    expect(s.failures.join(' ')).not.toContain('data loss after recovery');
  });
});

describe('interrupts and pipes', () => {
  it('a Ctrl-C during a rollback says what is true and how to finish; --resume finishes and leaves no temporary files', () => {
    const ws = sampleWorkspace();
    // enough files that the rollback writes on worker threads while the main thread waits (where a Ctrl-C lands)
    const files = Object.fromEntries(Array.from({ length: 2500 }, (_, i) => [`artifacts/bulk/f${i}`, `v1 ${i}\n`]));
    writeTree(ws, files);
    const v1 = runJson<{ id: string }>(ws, ['create', '--allow-inconsistent-index']).doc.id;
    writeTree(ws, Object.fromEntries(Object.keys(files).map((f) => [f, 'v2\n'])));
    expect(runJson(ws, ['create', '--allow-inconsistent-index']).code).toBe(0);
    const r = runJson(ws, ['rollback', v1, '--yes'], { SNAPGOV_FAULT: 'rollback-stage:50:INT' });
    expect(r.code).toBe(130);
    expect(r.error!.code).toBe('INTERRUPTED');
    expect(r.error!.hint).toContain('snapgov rollback --resume');
    expect(r.error!.hint).not.toContain('temporary files were removed');
    const done = runJson<{ resumed: boolean; verified: boolean }>(ws, ['rollback', '--resume', '--yes']);
    expect(done.code).toBe(0);
    expect(done.doc).toMatchObject({ resumed: true, verified: true });
    expect(listFiles(ws).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} during a rehearsal's gate ends snapgov at once, kills the gate and leaves no sandbox`, async () => {
      const ws = sampleWorkspace();
      const marks = tempDir('snapgov-gate-');
      const cfg = readJsonFile<Record<string, unknown>>(join(ws, 'snapgov.json'));
      // the gate records its pid, then would run for a minute; its own process group keeps a terminal's Ctrl-C from it
      cfg.gates = [{ name: 'slow', run: `echo $$ > '${marks}/gate.pid'; exec sleep 60` }];
      writeFileSync(join(ws, 'snapgov.json'), JSON.stringify(cfg));
      expect(runJson(ws, ['create']).code).toBe(0);
      const child = spawn(process.execPath, [BIN, '--json', 'rehearse', '--scenario', 'artifact-deleted'], { cwd: ws, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const closed = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
      let exited = false;
      void closed.then(() => (exited = true));
      while (!exited && !(existsSync(join(marks, 'gate.pid')) && readFileSync(join(marks, 'gate.pid'), 'utf8') !== '')) await new Promise((r) => setTimeout(r, 50));
      expect(exited, stderr).toBe(false);
      const gatePid = Number(readFileSync(join(marks, 'gate.pid'), 'utf8'));
      const t0 = Date.now();
      child.kill(signal);
      expect(await closed).toBe(130);
      expect(Date.now() - t0).toBeLessThan(5000); // the gate would have held it for 60 s
      expect(JSON.parse(stderr.trim().split('\n').pop()!)).toMatchObject({ error: { code: 'INTERRUPTED' } });
      // gone, or a zombie waiting for init to reap it (killed all the same)
      const state = () => (existsSync(`/proc/${gatePid}/stat`) ? readFileSync(`/proc/${gatePid}/stat`, 'utf8').split(') ')[1]![0] : 'gone');
      for (let i = 0; i < 20 && !['Z', 'gone'].includes(state()); i++) await new Promise((r) => setTimeout(r, 50));
      expect(['Z', 'gone']).toContain(state());
      expect(readdirSync(join(ws, 'rehearsal')).filter((n) => n.startsWith('.sandbox-'))).toEqual([]);
    });
  }

  it('a reader that closes the pipe early gets no EPIPE stack trace', () => {
    const ws = sampleWorkspace(Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`many/a-rather-long-file-name-${i}.txt`, `${i}`])));
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" list --json >/dev/null; "${process.execPath}" "${BIN}" status | true; echo "status:$?"`], { cwd: ws, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    expect(r.stderr).not.toMatch(/EPIPE|Error|at /);
  });

  it('with --json a usage error is one JSON document on stderr and nothing else', () => {
    const ws = sampleWorkspace();
    for (const args of [['create', '--bogus'], ['rollback', 'a', 'b', 'c'], ['nosuchcommand']]) {
      const r = run(ws, ['--json', ...args]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({ error: { code: 'USAGE' } });
    }
  });
});

describe('a rollback to a snapshot taken under other include/exclude rules', () => {
  it('leaves the now-excluded paths alone, says so at plan time, finishes and verifies', () => {
    const ws = sampleWorkspace({ 'logs/app.log': 'old log\n', 'artifacts/notes.txt': 'notes\n' });
    const old = runJson<{ id: string }>(ws, ['create']).doc.id;
    const cfgPath = join(ws, 'snapgov.json');
    writeFileSync(cfgPath, JSON.stringify({ ...readJsonFile<{ exclude: string[] }>(cfgPath), exclude: ['.git/**', 'logs/**', '**/*.txt'] }, null, 2));
    writeFileSync(join(ws, 'logs/app.log'), 'a log that is not managed any more\n');
    rmSync(join(ws, 'artifacts/notes.txt'));
    writeFileSync(join(ws, 'artifacts/rules/a.yaml'), 'rule: changed\n');
    expect(runJson(ws, ['create', '--allow-inconsistent-index']).code).toBe(0);
    const plan = run(ws, ['rollback', old, '--dry-run']);
    expect(plan.code).toBe(0);
    expect(plan.stderr).toContain('are not managed under the current include/exclude rules');
    const r = runJson<{ verified: boolean; excluded: string[] }>(ws, ['rollback', old, '--yes']);
    expect(r.code).toBe(0);
    expect(r.doc.verified).toBe(true);
    expect(r.doc.excluded).toEqual(['artifacts/notes.txt', 'logs/app.log']);
    expect(readFileSync(join(ws, 'logs/app.log'), 'utf8')).toBe('a log that is not managed any more\n');
    expect(existsSync(join(ws, 'artifacts/notes.txt'))).toBe(false);
    expect(readFileSync(join(ws, 'artifacts/rules/a.yaml'), 'utf8')).toBe('rule: a\n');
    expect(existsSync(join(ws, 'snapshots/rollback-journal.json'))).toBe(false);
  });
});

describe('nested workspaces', () => {
  it('init refuses a folder an outer workspace manages, and is allowed once the outer one excludes it', () => {
    const outer = sampleWorkspace();
    mkdirSync(join(outer, 'team'));
    writeFileSync(join(outer, 'team/notes.txt'), 'x');
    const r = runJson(join(outer, 'team'), ['init', '--no-index']);
    expect(r.code).toBe(2);
    expect(r.error!.message).toContain(`inside the workspace ${outer}`);
    expect(r.error!.hint).toContain('"team/**"');
    expect(existsSync(join(outer, 'team/snapgov.json'))).toBe(false);
    expect(existsSync(join(outer, 'team/snapshots'))).toBe(false);
    const cfgPath = join(outer, 'snapgov.json');
    const cfg = readJsonFile<{ exclude: string[] }>(cfgPath);
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, exclude: [...cfg.exclude, 'team/**'] }));
    expect(runJson(join(outer, 'team'), ['init', '--no-index']).code).toBe(0);
  });

  it('init refuses a folder whose managed files hold other workspaces, and takes the --exclude its hint names', () => {
    const ws = tempDir();
    writeTree(ws, { 'a/x.txt': 'x', 'b/y.txt': 'y' });
    expect(runJson(join(ws, 'a'), ['init', '--no-index']).code).toBe(0);
    const r = runJson(ws, ['init', '--no-index']);
    expect(r.code).toBe(2);
    expect(r.error!.message).toContain('other snapgov workspaces');
    expect(r.error!.hint).toContain("--exclude 'a/**'");
    expect(existsSync(join(ws, 'snapgov.json'))).toBe(false);
    const ok = runJson<{ exclude: string[] }>(ws, ['init', '--no-index', '--exclude', 'a/**']);
    expect(ok.code).toBe(0);
    expect(ok.doc.exclude).toEqual(['.git/**', '**/*.sec.asc', '**/*.key', 'a/**']);
  });
});

describe('failed gates', () => {
  it('show their last lines and the headline says where the rollback failed; a gate that leaves a process holding its output cannot hold snapgov', () => {
    const ws = sampleWorkspace();
    const v1 = runJson<{ id: string }>(ws, ['create']).doc.id;
    writeFileSync(join(ws, 'bin/deploy.sh'), '#!/bin/sh\necho v2\n');
    expect(runJson(ws, ['create']).code).toBe(0);
    const cfgPath = join(ws, 'snapgov.json');
    const lines = Array.from({ length: 30 }, (_, i) => `echo line${i}`).join('; ');
    writeFileSync(cfgPath, JSON.stringify({ ...readJsonFile(cfgPath), gates: [{ name: 'smoke', run: `${lines}; (sleep 20 &); setsid sh -c 'sleep 20' & echo smoke broke >&2; exit 3`, timeoutSeconds: 15 }] }, null, 2));
    const t0 = Date.now();
    const r = runJson<{ gates: { name: string; ok: boolean; exitCode: number; outputTail: string }[] }>(ws, ['rollback', v1, '--yes']);
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(r.code).toBe(1);
    const g = r.doc.gates[0]!;
    expect(g).toMatchObject({ name: 'smoke', ok: false, exitCode: 3 });
    expect(g.outputTail).toContain('smoke broke');
    expect(g.outputTail).toContain('line29');
    expect(g.outputTail).not.toContain('line5\n');
    writeFileSync(join(ws, 'bin/deploy.sh'), '#!/bin/sh\necho v3\n');
    const human = run(ws, ['rollback', v1, '--yes']);
    expect(human.stdout).toMatch(/^rollback failed at gate smoke; the tree stays at the target \(undo: snapgov rollback \w+\)/);
    expect(human.stdout).toContain('| smoke broke');
  });
});

describe('the smaller ones', () => {
  it('audit --limit takes a whole number (0 means none); an impossible --time is refused; __proto__ labels are kept; a bad e-mail is a usage error', () => {
    const ws = sampleWorkspace();
    expect(runJson(ws, ['audit', '--limit', 'x']).code).toBe(2);
    expect(runJson<{ entries: unknown[] }>(ws, ['audit', '--limit', '0']).doc.entries).toEqual([]);
    const bad = runJson(ws, ['create', '--time', '2026-02-30T00:00:00Z']);
    expect(bad.code).toBe(2);
    expect(bad.error!.message).toContain('no such day');
    expect(runJson(ws, ['create', '--time', '2024-02-29T00:00:00Z']).code).toBe(0);
    writeFileSync(join(ws, 'artifacts/extra.txt'), 'x');
    const c = runJson<{ id: string }>(ws, ['create', '--allow-inconsistent-index', '--label', '__proto__=x', '--label', 'ticket=1']);
    expect(c.code).toBe(0);
    expect(runJson<{ labels: Record<string, string> }>(ws, ['info', c.doc.id]).doc.labels).toEqual(JSON.parse('{"__proto__":"x","ticket":"1"}'));
    const keys = tempDir('snapgov-keys-');
    const k = runJson(ws, ['keygen', '--pgp', '--name', 'N', '--email', 'not-an-address', '-o', join(keys, 'k')]);
    expect(k.code).toBe(2);
    expect(k.error!.code).toBe('USAGE');
  });
});

/** Runs the CLI on a terminal (util-linux `script`), typing each answer once its question appears. */
function onTerminal(cwd: string, args: string[], answers: [RegExp, string][], env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  const cmd = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const child = spawn('script', ['-qec', cmd, '/dev/null'], { cwd, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let seen = 0;
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const next = answers[0];
    if (next && next[0].test(out.slice(seen))) {
      seen = out.length;
      answers.shift();
      child.stdin.write(next[1]);
    }
  });
  return new Promise((res) => child.on('close', (code) => res({ code, out })));
}

describe('passphrases and cosign keys', () => {
  it('keygen and sign ask for the passphrase on a terminal, without echo; a wrong one exits 12 with nothing written', async () => {
    const ws = sampleWorkspace();
    const keys = tempDir('snapgov-keys-');
    const k = await onTerminal(ws, ['keygen', '--pgp', '--name', 'N', '--email', 'n@example.com', '-o', join(keys, 'k')], [
      [/Passphrase for the new key/, 'sesame-42\r'],
      [/Repeat the passphrase/, 'sesame-42\r'],
    ]);
    expect(k.code, k.out).toBe(0);
    expect(k.out).not.toContain('sesame-42');
    expect(readFileSync(join(keys, 'k.sec.asc'), 'utf8')).toContain('PRIVATE KEY BLOCK');
    expect(runJson(ws, ['create']).code).toBe(0);
    // not on a terminal: no question, the usual error
    const piped = runJson(ws, ['sign', 'latest', '--pgp-key', join(keys, 'k.sec.asc')]);
    expect(piped.code).toBe(12);
    expect(piped.error!.message).toContain('protected by a passphrase');
    const wrong = await onTerminal(ws, ['sign', 'latest', '--pgp-key', join(keys, 'k.sec.asc')], [[/Passphrase for /, 'nope\r']]);
    expect(wrong.code, wrong.out).toBe(12);
    expect(wrong.out).toContain('wrong passphrase');
    expect(runJson<{ signatures: unknown[] }>(ws, ['info', 'latest']).doc.signatures).toHaveLength(0);
    const ok = await onTerminal(ws, ['sign', 'latest', '--pgp-key', join(keys, 'k.sec.asc')], [[/Passphrase for /, 'sesame-42\r']]);
    expect(ok.code, ok.out).toBe(0);
    expect(ok.out).not.toContain('sesame-42');
    expect(runJson<{ signatures: unknown[] }>(ws, ['info', 'latest']).doc.signatures).toHaveLength(1);
  });

  it("a cosign-encrypted key is refused with exit 12 and the import recipe", () => {
    const ws = sampleWorkspace();
    expect(runJson(ws, ['create']).code).toBe(0);
    const keys = tempDir('snapgov-keys-');
    // the armour cosign writes (the body does not matter: the header alone decides)
    writeFileSync(join(keys, 'cosign.key'), '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJrZGYiOnt9fQ==\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n');
    const r = runJson(ws, ['sign', 'latest', '--sigstore-key', join(keys, 'cosign.key')]);
    expect(r.code).toBe(12);
    expect(r.error!.message).toContain('cosign-encrypted key');
    expect(r.error!.hint).toContain('--import-signature');
  });
});

describe('progress on a terminal', () => {
  it('shows a progress line on a terminal only, and clears it before the result', () => {
    const ws = sampleWorkspace();
    // util-linux `script` gives the command a real terminal
    const tty = spawnSync('script', ['-qec', `"${process.execPath}" "${BIN}" create`, '/dev/null'], { cwd: ws, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    expect(tty.status).toBe(0);
    expect(tty.stdout).toContain('reading the tree…');
    expect(tty.stdout).toContain('\r\x1b[2K');
    writeFileSync(join(ws, 'artifacts/x.txt'), 'x');
    const piped = run(ws, ['create', '--allow-inconsistent-index']);
    expect(piped.code).toBe(0);
    expect(piped.stderr).not.toContain('reading the tree');
    expect(piped.stdout).not.toContain('\r');
  });
});

describe('kept sandboxes', () => {
  it('a sandbox kept with --keep-sandbox survives the next rehearse', () => {
    const ws = sampleWorkspace();
    expect(runJson(ws, ['create']).code).toBe(0);
    const kept = runJson<{ sandbox: { path: string; kept: boolean } }>(ws, ['rehearse', '--scenario', 'stray-file', '--keep-sandbox']);
    expect(kept.code).toBe(0);
    expect(existsSync(kept.doc.sandbox.path)).toBe(true);
    expect(runJson(ws, ['rehearse', '--scenario', 'stray-file']).code).toBe(0);
    expect(existsSync(kept.doc.sandbox.path)).toBe(true);
  });
});

describe('import from standard input', () => {
  it('import - reads what export -o - writes', () => {
    const ws = sampleWorkspace();
    const id = runJson<{ id: string }>(ws, ['create']).doc.id;
    const tar = spawnSync(process.execPath, [BIN, 'export', 'latest', '-o', '-'], { cwd: ws, env: { ...process.env, NO_COLOR: '1' } });
    expect(tar.status).toBe(0);
    const other = tempDir();
    expect(run(other, ['init', '--no-index']).code).toBe(0);
    const r = spawnSync(process.execPath, [BIN, '--json', 'import', '-'], { cwd: other, input: tar.stdout, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ id, imported: true });
    expect(runJson(other, ['verify', id, '--read-data']).code).toBe(0);
    const bad = spawnSync(process.execPath, [BIN, '--json', 'import', '-'], { cwd: other, input: Buffer.from('not a tar'), encoding: 'utf8' });
    expect(bad.status).toBe(2);
  });
});

describe('a truncated export', () => {
  it('is a damaged archive (exit 1), not "not an export", and nothing is imported', () => {
    const ws = sampleWorkspace({ 'models/big.bin': Buffer.alloc(300_000, 7) });
    expect(runJson(ws, ['create']).code).toBe(0);
    const out = join(tempDir(), 'x.tar');
    expect(run(ws, ['export', 'latest', '-o', out]).code).toBe(0);
    const bytes = readFileSync(out);
    const other = tempDir();
    expect(run(other, ['init', '--no-index']).code).toBe(0);
    const cut = join(tempDir(), 'cut.tar');
    for (const n of [bytes.length - 1536, Math.floor(bytes.length / 2), 3000]) {
      writeFileSync(cut, bytes.subarray(0, n));
      const r = runJson(other, ['import', cut]);
      expect(r.code).toBe(1);
      expect(r.error!.code).toBe('ARCHIVE_INVALID');
      expect(readdirSync(join(other, 'snapshots/manifests'))).toEqual([]);
    }
  });
});

describe('snapgov tag', () => {
  it('adds and removes tags and labels of an existing snapshot, audited; --move makes a tag name one snapshot', () => {
    const ws = sampleWorkspace();
    const a = runJson<{ id: string }>(ws, ['create', '--tag', 'prod']).doc.id;
    writeFileSync(join(ws, 'artifacts/extra.txt'), 'x');
    const b = runJson<{ id: string }>(ws, ['create', '--allow-inconsistent-index', '--tag', 'prod']).doc.id;
    const metaBefore = readFileSync(join(ws, 'metadata', `${a.slice(7)}.json`), 'utf8');
    // re-tagging the older one: the REF prod still names the newer one, and the warning says so
    const plain = run(ws, ['tag', a.slice(7, 19), 'prod', 'golden']);
    expect(plain.code).toBe(0);
    expect(plain.stderr).toContain('--move');
    expect(runJson<{ id: string }>(ws, ['info', 'prod']).doc.id).toBe(b);
    const moved = runJson<{ id: string; movedFrom: { id: string; tags: string[] }[]; tags: string[] }>(ws, ['tag', a, 'prod', '--move', '--label', 'ticket=INC-42']);
    expect(moved.code).toBe(0);
    expect(moved.doc.movedFrom).toEqual([{ id: b, tags: ['prod'] }]);
    expect(runJson<{ id: string; labels: Record<string, string> }>(ws, ['info', 'prod']).doc).toMatchObject({ id: a, labels: { ticket: 'INC-42' } });
    expect(runJson<{ tags: string[] }>(ws, ['info', b]).doc.tags).toEqual([]);
    // the manifest (the ID) is untouched; only the metadata changed
    expect(readFileSync(join(ws, 'metadata', `${a.slice(7)}.json`), 'utf8')).not.toBe(metaBefore);
    expect(sha256(readFileSync(join(ws, 'snapshots/manifests', `${a.slice(7)}.json`)))).toBe(a.slice(7));
    const same = runJson<{ changed: boolean }>(ws, ['tag', a, 'prod']);
    expect(same.doc.changed).toBe(false);
    const rm = runJson<{ tags: string[]; labelsRemoved: string[] }>(ws, ['tag', a, '--remove', 'golden', '--unlabel', 'ticket']);
    expect(rm.doc).toMatchObject({ tags: ['prod'], labelsRemoved: ['ticket'] });
    const actions = runJson<{ entries: { action: string }[] }>(ws, ['audit']).doc.entries.map((e) => e.action);
    expect(actions.filter((x) => x === 'tag')).toHaveLength(3);
    expect(runJson(ws, ['audit', 'verify']).code).toBe(0);
    for (const bad of [['tag', a], ['tag', a, ' '], ['tag', a, 'a\u001b[31m'], ['tag', a, 'x', '--remove', 'x'], ['tag', 'nosuch', 'x']]) expect(runJson(ws, bad).code, bad.join(' ')).toBe(2);
  });
});

describe('diff --stat and --name-only', () => {
  it('--stat gives sizes before and after; --name-only prints the paths alone', () => {
    const ws = sampleWorkspace();
    const a = runJson<{ id: string }>(ws, ['create']).doc.id;
    writeFileSync(join(ws, 'artifacts/new.txt'), '12345');
    writeFileSync(join(ws, 'bin/deploy.sh'), '#!/bin/sh\necho a much longer script\n');
    const st = runJson<{ stat: { files: { path: string; change: string; before: number | null; after: number | null }[]; bytesAfter: number } }>(ws, ['diff', a, '--stat']);
    expect(st.code).toBe(0);
    expect(st.doc.stat.files.find((f) => f.path === 'artifacts/new.txt')).toEqual({ path: 'artifacts/new.txt', change: 'added', before: null, after: 5 });
    const deploy = st.doc.stat.files.find((f) => f.path === 'bin/deploy.sh')!;
    expect(deploy.change).toBe('modified');
    expect(deploy.after).toBe(statSync(join(ws, 'bin/deploy.sh')).size);
    const human = run(ws, ['diff', a, '--stat']);
    expect(human.stdout).toMatch(/artifacts\/new\.txt\s+\| - -> 5 B/);
    expect(human.stdout).toMatch(/2 file\(s\) changed/);
    const names = run(ws, ['diff', a, '--name-only']);
    expect(names.stdout).toBe('artifacts/new.txt\nbin/deploy.sh\n');
    expect(run(ws, ['diff', a, a, '--name-only']).stdout).toBe('');
  });
});

describe('--dry-run for create and import', () => {
  // the store's derived caches (stat cache, object index) may be refreshed, as any read does
  const storeFiles = (ws: string) => listFiles(ws).filter((f) => /^(snapshots|metadata|rehearsal)\//.test(f) && !f.startsWith('snapshots/cache/')).map((f) => `${f} ${statSync(join(ws, f)).mtimeMs}`);

  it('create --dry-run reports the snapshot it would make and writes nothing; it refuses what create refuses', () => {
    const ws = sampleWorkspace();
    expect(runJson(ws, ['create']).code).toBe(0);
    writeFileSync(join(ws, 'artifacts/extra.bin'), Buffer.alloc(3000, 7));
    const before = storeFiles(ws);
    const dry = runJson<{ id: string; created: boolean; dryRun: boolean; newBytes: number; newObjects: number }>(ws, ['create', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.doc).toMatchObject({ dryRun: true, created: true, newBytes: 3000, newObjects: 1 });
    expect(storeFiles(ws)).toEqual(before);
    writeFileSync(join(ws, 'artifacts/rules/a.yaml'), 'edited'); // no longer matches the index's digest
    expect(runJson(ws, ['create', '--dry-run']).code).toBe(1);
    expect(storeFiles(ws)).toEqual(before);
    writeFileSync(join(ws, 'artifacts/rules/a.yaml'), 'rule: a\n');
    const real = runJson<{ id: string }>(ws, ['create']);
    expect(real.doc.id).toBe(dry.doc.id);
    expect(runJson<{ created: boolean }>(ws, ['create', '--dry-run']).doc.created).toBe(false);
  });

  it('import --dry-run checks the whole archive and writes nothing; a damaged archive fails it', () => {
    const src = sampleWorkspace();
    const id = runJson<{ id: string }>(src, ['create']).doc.id;
    const tar = join(tempDir('snapgov-tar-'), 'a.tar');
    expect(runJson(src, ['export', id, '-o', tar]).code).toBe(0);
    const dst = tempDir();
    expect(run(dst, ['init', '--no-index']).code).toBe(0);
    const before = storeFiles(dst);
    const dry = runJson<{ dryRun: boolean; present: boolean; imported: boolean; newObjects: number }>(dst, ['import', '--dry-run', tar]);
    expect(dry.code).toBe(0);
    expect(dry.doc).toMatchObject({ dryRun: true, present: false, imported: false });
    expect(dry.doc.newObjects).toBeGreaterThan(0);
    expect(storeFiles(dst)).toEqual(before);
    expect(readdirSync(join(dst, 'snapshots/tmp'))).toEqual([]);
    const bad = readFileSync(tar);
    bad[bad.length - 2000] ^= 1; // a byte of the last object
    writeFileSync(tar, bad);
    expect(runJson(dst, ['import', '--dry-run', tar]).code).toBe(1);
    expect(storeFiles(dst)).toEqual(before);
  });
});

describe('snapgov restore: single paths', () => {
  it('puts back files and folders as the snapshot has them, leaves the rest, and is audited with a safety snapshot', () => {
    const ws = sampleWorkspace({ 'notes/todo.txt': 'v1\n' });
    const v1 = runJson<{ id: string }>(ws, ['create']).doc.id;
    writeFileSync(join(ws, 'artifacts/rules/a.yaml'), 'rule: broken\n');
    writeFileSync(join(ws, 'artifacts/rules/b.yaml'), 'rule: b2\n');
    writeFileSync(join(ws, 'notes/todo.txt'), 'v2, keep me\n');
    writeFileSync(join(ws, 'artifacts/rules/stray.yaml'), 'x');
    // relative to the current folder, as git takes paths
    const r = runJson<{ paths: string[]; safetySnapshot: string; verified: boolean; written: number; removed: number }>(join(ws, 'artifacts'), ['restore', v1, 'rules/a.yaml']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.doc).toMatchObject({ paths: ['artifacts/rules/a.yaml'], verified: true, written: 1, removed: 0 });
    expect(readFileSync(join(ws, 'artifacts/rules/a.yaml'), 'utf8')).toBe('rule: a\n');
    expect(readFileSync(join(ws, 'artifacts/rules/b.yaml'), 'utf8')).toBe('rule: b2\n');
    expect(readFileSync(join(ws, 'notes/todo.txt'), 'utf8')).toBe('v2, keep me\n');
    // the safety snapshot holds the tree as it was, so the restore can be undone
    const safety = r.doc.safetySnapshot;
    expect(runJson<{ trigger: string }>(ws, ['info', safety]).doc.trigger).toBe('pre-rollback');
    // a folder: as the snapshot has it, extra files included
    const d = runJson<{ removed: number }>(ws, ['restore', v1, 'artifacts/rules']);
    expect(d.code).toBe(0);
    expect(d.doc.removed).toBe(1);
    expect(existsSync(join(ws, 'artifacts/rules/stray.yaml'))).toBe(false);
    expect(readFileSync(join(ws, 'artifacts/rules/b.yaml'), 'utf8')).toBe('rule: b\n');
    expect(readFileSync(join(ws, 'notes/todo.txt'), 'utf8')).toBe('v2, keep me\n');
    const audit = runJson<{ entries: { action: string; to?: string; details: { paths?: string[] } }[] }>(ws, ['audit']).doc.entries.filter((e) => e.action === 'restore');
    expect(audit.map((e) => e.details.paths)).toEqual([['artifacts/rules/a.yaml'], ['artifacts/rules']]);
    expect(audit.every((e) => e.to === v1)).toBe(true);
    // the tree is at no snapshot: status names what differs from the snapshot taken before the restore
    expect(runJson<{ clean: boolean }>(ws, ['status']).doc.clean).toBe(false);
    // undo: the safety snapshot of the second restore brings the stray file back
    expect(runJson(ws, ['rollback', runJson<{ entries: { details: { safetySnapshot: string } }[] }>(ws, ['audit']).doc.entries.at(-1)!.details.safetySnapshot, '--yes']).code).toBe(0);
    expect(existsSync(join(ws, 'artifacts/rules/stray.yaml'))).toBe(true);
  });

  it('refuses paths the snapshot lacks or outside the workspace, with nothing changed; --dry-run plans only', () => {
    const ws = sampleWorkspace();
    const v1 = runJson<{ id: string }>(ws, ['create']).doc.id;
    writeFileSync(join(ws, 'artifacts/rules/a.yaml'), 'changed\n');
    const before = listFiles(join(ws, 'metadata'));
    for (const args of [['restore', v1, 'nope.txt'], ['restore', v1, '../outside'], ['restore', v1, '.'], ['restore', 'nosuch', 'artifacts']]) {
      const r = runJson(ws, args);
      expect(r.code, args.join(' ')).toBe(2);
    }
    expect(runJson(ws, ['restore', v1, 'nope.txt']).error!.message).toContain('holds no nope.txt');
    const dry = runJson<{ dryRun: boolean; plan: { write: number; paths: { write: string[] } } }>(ws, ['restore', v1, 'artifacts/rules/a.yaml', '--dry-run']);
    expect(dry.doc.plan.paths.write).toEqual(['artifacts/rules/a.yaml']);
    expect(readFileSync(join(ws, 'artifacts/rules/a.yaml'), 'utf8')).toBe('changed\n');
    expect(listFiles(join(ws, 'metadata'))).toEqual(before);
  });

  it('an interrupted restore is finished by rollback --resume, which restores only those paths', () => {
    const ws = sampleWorkspace();
    const files = Object.fromEntries(Array.from({ length: 2500 }, (_, i) => [`artifacts/bulk/f${i}`, `v1 ${i}\n`]));
    writeTree(ws, files);
    const v1 = runJson<{ id: string }>(ws, ['create', '--allow-inconsistent-index']).doc.id;
    writeTree(ws, Object.fromEntries(Object.keys(files).map((f) => [f, 'v2\n'])));
    writeFileSync(join(ws, 'bin/deploy.sh'), '#!/bin/sh\necho v2\n');
    const r = runJson(ws, ['restore', v1, 'artifacts/bulk'], { SNAPGOV_FAULT: 'rollback-stage:50:INT' });
    expect(r.code).toBe(130);
    expect(r.error!.hint).toContain('snapgov rollback --resume');
    expect(readJsonFile<{ paths: string[] }>(join(ws, 'snapshots/rollback-journal.json')).paths).toEqual(['artifacts/bulk']);
    const done = runJson<{ resumed: boolean; verified: boolean; paths: string[] }>(ws, ['rollback', '--resume']);
    expect(done.code, done.stderr).toBe(0);
    expect(done.doc).toMatchObject({ resumed: true, verified: true, paths: ['artifacts/bulk'] });
    for (const [f, c] of Object.entries(files)) expect(readFileSync(join(ws, f), 'utf8')).toBe(c);
    expect(readFileSync(join(ws, 'bin/deploy.sh'), 'utf8')).toBe('#!/bin/sh\necho v2\n');
    expect(listFiles(ws).filter((f) => f.includes('.snapgov-tmp-'))).toEqual([]);
  });
});

describe('snapgov cat REF:PATH', () => {
  it("prints a file's bytes, a symlink's target and a folder's names; refuses a missing path; never hands on a damaged object", () => {
    const big = Buffer.alloc(3 << 20);
    for (let i = 0; i < big.length; i += 4096) big[i] = i % 251;
    const ws = sampleWorkspace({ 'data/big.bin': big });
    const id = runJson<{ id: string }>(ws, ['create', '--tag', 'rel-1']).doc.id;
    writeFileSync(join(ws, 'artifacts/rules/a.yaml'), 'live edit\n');
    const catBytes = (arg: string) => spawnSync(process.execPath, [BIN, 'cat', arg], { cwd: ws, env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 64 << 20 });
    expect(catBytes('latest:artifacts/rules/a.yaml').stdout.toString()).toBe('rule: a\n');
    expect(catBytes(`${id}:artifacts/rules/a.yaml`).stdout.toString()).toBe('rule: a\n');
    expect(catBytes('tag:rel-1:artifacts/rules/a.yaml').stdout.toString()).toBe('rule: a\n');
    const b = catBytes('latest:data/big.bin');
    expect(b.status).toBe(0);
    expect(Buffer.compare(b.stdout, big)).toBe(0);
    expect(run(ws, ['cat', 'latest:current']).stdout).toBe('artifacts/rules/a.yaml\n');
    expect(run(ws, ['cat', 'latest:artifacts']).stdout).toBe('index.json\nrules/\n');
    expect(runJson(ws, ['cat', 'latest:artifacts/rules/a.yaml'])).toMatchObject({ code: 0, doc: { type: 'file', size: 8, sha256: sha256('rule: a\n') } });
    expect(runJson(ws, ['cat', 'latest:nope']).code).toBe(2);
    expect(runJson(ws, ['cat', 'no-colon']).code).toBe(2);
    // damage the large (loose) object: exit 1 and not one byte on stdout
    const loose = join(ws, 'snapshots/objects', sha256(big).slice(0, 2), sha256(big));
    chmodSync(loose, 0o644);
    const damaged = Buffer.from(big);
    damaged[damaged.length - 1] ^= 1;
    writeFileSync(loose, damaged);
    const bad = catBytes('latest:data/big.bin');
    expect(bad.status).toBe(1);
    expect(bad.stdout.length).toBe(0);
    expect(bad.stderr.toString()).toContain('cannot be read');
  });
});

describe('shell completion', () => {
  const complete = (shell: 'bash' | 'zsh', words: string[]) => {
    const script = run(tempDir(), ['completion', shell]).stdout;
    const file = join(tempDir('snapgov-compl-'), `snapgov.${shell}`);
    writeFileSync(file, script);
    // as bash calls a completion function, and as zsh's bashcompinit does (COMP_CWORD = CURRENT - 1)
    const call = `source '${file}'; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _snapgov; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = shell === 'bash' ? spawnSync('bash', ['-c', call], { encoding: 'utf8' }) : spawnSync('zsh', ['-fc', `autoload -U compinit && compinit -u -D; ${call}`], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    return r.stdout.trim().split('\n');
  };

  it('bash completes commands, then each command\'s flags, skipping the values of flags', () => {
    expect(complete('bash', ['snapgov', 'ro'])).toEqual(['rollback']);
    expect(complete('bash', ['snapgov', '-C', '/tmp', 'rollback', '--re'])).toEqual(['--reason', '--resume', '--revert-on-gate-failure']);
    expect(complete('bash', ['snapgov', 'diff', '--'])).toEqual(['--stat', '--name-only', '--help']);
  });

  it.skipIf(!hasCommand('zsh'))('zsh runs the same script through bashcompinit', () => {
    // zsh filters by the typed prefix itself; the script must find the command and offer its flags
    expect(complete('zsh', ['snapgov', '-C', '/tmp', 'rollback', '--re'])).toContain('--resume');
    expect(complete('zsh', ['snapgov', 're'])).toContain('restore');
  });

  it('refuses an unknown shell', () => {
    expect(runJson(tempDir(), ['completion', 'fish']).code).toBe(2);
  });
});

describe('subcommand help', () => {
  it('every command ends its --help with examples of itself', () => {
    const top = run(tempDir(), ['--help']).stdout;
    const commands = top.slice(top.indexOf('Commands:')).split('\n').slice(1).map((l) => /^ {2}(\S+)/.exec(l)?.[1]).filter((c): c is string => !!c && c !== 'help');
    expect(commands.length).toBeGreaterThan(20);
    for (const c of commands) {
      const help = run(tempDir(), [c, '--help']);
      expect(help.code, c).toBe(0);
      expect(help.stdout, c).toMatch(new RegExp(`Examples:\\n(  \\$ .*\\n)*  \\$ .*snapgov ${c}\\b`));
    }
  });
});
