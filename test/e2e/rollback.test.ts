import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, lstatSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { readJsonFile, REPO, run, runJson, sampleWorkspace, sha256, tempDir, writeTree } from '../helpers/cli.js';

interface Rollback {
  dryRun: boolean;
  from: string | null;
  to: string;
  chosen: { id: string; why: string };
  safetySnapshot: string | null;
  plan: { write: number; link: number; chmod: number; remove: number; bytes: number; paths?: Record<string, string[]> };
  written: number;
  removed: number;
  modeChanged: number;
  bytesWritten: number;
  durationMs: number;
  verified: boolean;
  gates: { name: string; ok: boolean; durationMs: number; timedOut: boolean }[];
  reverted: boolean;
}

const id = (ws: string, args: string[] = []) => runJson<{ id: string }>(ws, ['create', ...args]).doc.id;

/** Every managed file of the tree equals the snapshot's manifest, checked with sha256 like a person would. */
function treeMatches(ws: string, snap: string): void {
  const m = readFileSync(join(ws, 'snapshots/manifests', `${snap.slice(7)}.json`), 'utf8');
  const entries = m.trim().split('\n').slice(1, -1).map((l) => JSON.parse(l.replace(/,$/, '')) as { path: string; type: string; sha256?: string; mode?: string; target?: string });
  for (const e of entries) {
    const p = join(ws, e.path);
    if (e.type === 'symlink') expect(readlinkSync(p), e.path).toBe(e.target);
    else {
      expect(sha256(readFileSync(p)), e.path).toBe(e.sha256);
      expect(lstatSync(p).mode & 0o100 ? '0755' : '0644', e.path).toBe(e.mode);
    }
  }
  expect(runJson<{ ok: boolean }>(ws, ['verify', snap, '--worktree']).doc.ok).toBe(true);
}

function twoVersions(): { ws: string; v1: string; v2: string } {
  const ws = sampleWorkspace();
  const v1 = id(ws, ['-m', 'v1']);
  writeFileSync(join(ws, 'artifacts/rules/a.yaml'), 'rule: a2\n');
  writeFileSync(join(ws, 'artifacts/rules/c.yaml'), 'rule: c\n');
  writeFileSync(join(ws, 'artifacts/index.json'), JSON.stringify({ artifacts: [{ path: 'rules/a.yaml' }, { path: 'rules/b.yaml' }, { path: 'rules/c.yaml' }] }));
  chmodSync(join(ws, 'bin/deploy.sh'), 0o644);
  rmSync(join(ws, 'current'));
  symlinkSync('artifacts/rules/b.yaml', join(ws, 'current'));
  const v2 = id(ws, ['-m', 'v2']);
  return { ws, v1, v2 };
}

describe('snapgov rollback', () => {
  it('sets the live tree to a snapshot, with a safety snapshot, verification and an audit record', () => {
    const { ws, v1, v2 } = twoVersions();
    writeFileSync(join(ws, 'artifacts/rules/b.yaml'), 'corrupted');
    const r = runJson<Rollback>(ws, ['rollback', v1.slice(7, 15), '--reason', 'INC-7 bad rules']);
    expect(r.code).toBe(0);
    expect(r.doc).toMatchObject({ dryRun: false, from: v2, to: v1, verified: true, gates: [], reverted: false });
    expect(r.doc.written).toBe(4); // a.yaml, b.yaml, index.json, current (symlink)
    expect(r.doc.removed).toBe(1);
    expect(r.doc.modeChanged).toBe(1);
    expect(r.doc.bytesWritten).toBeGreaterThan(0);
    expect(typeof r.doc.durationMs).toBe('number');
    treeMatches(ws, v1);
    expect(existsSync(join(ws, 'artifacts/rules/c.yaml'))).toBe(false);

    const safety = r.doc.safetySnapshot!;
    const md = readJsonFile<{ trigger: string; protectedUntil: string }>(join(ws, 'metadata', `${safety.slice(7)}.json`));
    expect(md.trigger).toBe('pre-rollback');
    expect(Date.parse(md.protectedUntil) - Date.now()).toBeGreaterThan(6 * 86_400_000);
    expect(runJson<{ live: { id: string }; clean: boolean }>(ws, ['status']).doc).toMatchObject({ live: { id: v1 }, clean: true });
    const audit = runJson<{ entries: { action: string; from?: string; to?: string; reason?: string; outcome: string; details: { safetySnapshot: string } }[] }>(ws, ['audit']).doc.entries;
    expect(audit.at(-1)).toMatchObject({ action: 'rollback', from: v2, to: v1, reason: 'INC-7 bad rules', outcome: 'success', details: { safetySnapshot: safety } });
    expect(existsSync(join(ws, 'snapshots/rollback-journal.json'))).toBe(false);
    expect(readdirSync(join(ws, 'artifacts/rules')).some((n) => n.includes('snapgov-tmp'))).toBe(false);

    // the safety snapshot undoes it, byte for byte (including the corrupted file)
    const undo = runJson<Rollback>(ws, ['rollback', safety]);
    expect(undo.code).toBe(0);
    treeMatches(ws, safety);
    expect(readFileSync(join(ws, 'artifacts/rules/b.yaml'), 'utf8')).toBe('corrupted');
  });

  it('without REF picks the last known good snapshot and says why, skipping safety snapshots', () => {
    const { ws, v1, v2 } = twoVersions();
    writeFileSync(join(ws, 'artifacts/rules/b.yaml'), 'broken');
    const r = runJson<Rollback>(ws, ['rollback']);
    expect(r.code).toBe(0);
    expect(r.doc.to).toBe(v1);
    expect(r.doc.chosen.why).toContain(v2.slice(7, 19));
    const safety = r.doc.safetySnapshot!;
    expect([v1, v2]).not.toContain(safety);
    const none = runJson(ws, ['rollback', '--dry-run']); // nothing older than v1
    expect(none.code).toBe(1);
    expect(none.error!.code).toBe('TARGET_INVALID');
    writeFileSync(join(ws, 'x.txt'), 'x');
    id(ws); // v3; older ones: the safety snapshot (skipped), v2, v1
    const again = runJson<Rollback & { chosen: { rejected: { id: string; problems: string[] }[] } }>(ws, ['rollback', '--dry-run']);
    expect(again.doc.to).toBe(v2);
    expect(again.doc.chosen.rejected).toEqual([{ id: safety, problems: ['safety snapshot taken before a rollback'] }]);
  });

  it('--dry-run prints the plan and changes nothing', () => {
    const { ws, v1 } = twoVersions();
    const before = readdirSync(join(ws, 'metadata')).sort();
    const content = readFileSync(join(ws, 'artifacts/rules/a.yaml'), 'utf8');
    const r = runJson<Rollback>(ws, ['rollback', v1, '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.doc.dryRun).toBe(true);
    expect(r.doc.plan).toMatchObject({ write: 2, link: 1, chmod: 1, remove: 1 });
    expect(r.doc.plan.paths!.remove).toEqual(['artifacts/rules/c.yaml']);
    expect(r.doc.safetySnapshot).toBeNull();
    expect(readdirSync(join(ws, 'metadata')).sort()).toEqual(before);
    expect(readFileSync(join(ws, 'artifacts/rules/a.yaml'), 'utf8')).toBe(content);
    expect(run(ws, ['rollback', v1, '--dry-run']).stdout).toMatch(/remove artifacts\/rules\/c\.yaml/);
  });

  it('reuses the existing snapshot as the safety snapshot when the live tree equals it, and can skip it', () => {
    const { ws, v1, v2 } = twoVersions();
    const r = runJson<Rollback>(ws, ['rollback', v1]);
    expect(r.doc.safetySnapshot).toBe(v2);
    expect(readJsonFile<{ protectedUntil?: string }>(join(ws, 'metadata', `${v2.slice(7)}.json`)).protectedUntil).toBeDefined();
    expect(runJson<{ snapshots: unknown[] }>(ws, ['list']).doc.snapshots).toHaveLength(2);
    const r2 = runJson<Rollback>(ws, ['rollback', v2, '--no-safety-snapshot']);
    expect(r2.code).toBe(0);
    expect(r2.doc.safetySnapshot).toBeNull();
    treeMatches(ws, v2);
  });

  it('refuses a damaged or unknown target before changing anything', () => {
    const { ws, v1 } = twoVersions();
    const packs = join(ws, 'snapshots/packs');
    // damage every copy of a.yaml v1 ("rule: a\n") in the packs
    for (const p of readdirSync(packs)) {
      const file = join(packs, p);
      const b = readFileSync(file);
      const at = b.indexOf('rule: a\n');
      if (at >= 0) {
        chmodSync(file, 0o644);
        b[at] = 'R'.charCodeAt(0);
        writeFileSync(file, b);
      }
    }
    const before = readFileSync(join(ws, 'artifacts/rules/a.yaml'), 'utf8');
    const r = runJson(ws, ['rollback', v1]);
    expect(r.code).toBe(1);
    expect(r.error!.code).toBe('TARGET_INVALID');
    expect(r.error!.message).toMatch(/artifacts\/rules\/a\.yaml/);
    expect(readFileSync(join(ws, 'artifacts/rules/a.yaml'), 'utf8')).toBe(before);
    expect(existsSync(join(ws, 'snapshots/rollback-journal.json'))).toBe(false);
    const unknown = runJson(ws, ['rollback', 'ffffffff']);
    expect(unknown.code).toBe(2);
    expect(runJson(ws, ['rollback', '--resume']).code).toBe(2);
  });

  it('replaces a symlink pointing outside the workspace without writing through it', () => {
    const outside = tempDir();
    writeTree(outside, { 'victim.txt': 'keep me' });
    const ws = sampleWorkspace();
    const v1 = id(ws);
    rmSync(join(ws, 'artifacts/rules/a.yaml'));
    symlinkSync(join(outside, 'victim.txt'), join(ws, 'artifacts/rules/a.yaml'));
    rmSync(join(ws, 'artifacts/rules/b.yaml'));
    rmSync(join(ws, 'artifacts/rules'), { recursive: true });
    symlinkSync(outside, join(ws, 'artifacts/rules'));
    const r = runJson<Rollback>(ws, ['rollback', v1, '--no-safety-snapshot']);
    expect(r.code).toBe(0);
    expect(lstatSync(join(ws, 'artifacts/rules')).isDirectory()).toBe(true);
    expect(readFileSync(join(outside, 'victim.txt'), 'utf8')).toBe('keep me');
    expect(readdirSync(outside)).toEqual(['victim.txt']);
    treeMatches(ws, v1);
  });

  it('refuses to touch an unmanaged file that is in the way', () => {
    const ws = tempDir();
    writeTree(ws, { 'x.local/a.json': '{}' });
    expect(run(ws, ['init', '--no-index', '--exclude', 'local/**', '--exclude', 'cfg.local']).code).toBe(0);
    const v1 = id(ws);
    rmSync(join(ws, 'x.local'), { recursive: true });
    writeTree(ws, { 'other.txt': 'o' });
    id(ws);
    // an excluded (unmanaged) file now sits where the target needs the folder "x.local"; the
    // target's x.local/a.json is still managed ("*.local" excludes the file, it prunes no folder)
    writeFileSync(join(ws, 'x.local'), 'unmanaged');
    const cfg = readJsonFile<Record<string, unknown>>(join(ws, 'snapgov.json'));
    writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, exclude: ['*.local'] }));
    const r = runJson(ws, ['rollback', v1, '--no-safety-snapshot']);
    expect(r.code).toBe(1);
    expect(r.error!.code).toBe('ROLLBACK_BLOCKED');
    expect(r.error!.message).toMatch(/x\.local/);
    expect(readFileSync(join(ws, 'x.local'), 'utf8')).toBe('unmanaged');
    expect(existsSync(join(ws, 'other.txt'))).toBe(true);
  });

  it('runs gates: a failing gate is exit 1, a timeout fails, and --revert-on-gate-failure restores the safety snapshot', () => {
    const { ws, v1, v2 } = twoVersions();
    const cfg = readJsonFile<Record<string, unknown>>(join(ws, 'snapgov.json'));
    writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, gates: [{ name: 'index' }, { name: 'smoke', run: 'test -f artifacts/rules/c.yaml' }] }));
    const r = runJson<Rollback>(ws, ['rollback', v1]);
    expect(r.code).toBe(1);
    expect(r.doc.verified).toBe(true);
    expect(r.doc.gates.map((x) => [x.name, x.ok])).toEqual([['index', true], ['smoke', false]]);
    treeMatches(ws, v1);
    const audit = runJson<{ entries: { action: string; outcome: string }[] }>(ws, ['audit']).doc.entries;
    expect(audit.at(-1)).toMatchObject({ action: 'rollback', outcome: 'failure' });

    runJson(ws, ['rollback', v2, '--no-safety-snapshot']);
    writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, gates: [{ name: 'slow', run: 'sleep 30', timeoutSeconds: 0.5 }] }));
    const t = runJson<Rollback>(ws, ['rollback', v1, '--revert-on-gate-failure']);
    expect(t.code).toBe(1);
    expect(t.doc.gates[0]).toMatchObject({ name: 'slow', ok: false, timedOut: true });
    expect(t.doc.reverted).toBe(true);
    treeMatches(ws, v2);
    expect(runJson<{ live: { id: string } }>(ws, ['status']).doc.live.id).toBe(v2);
  });

  it('--revert-on-gate-failure brings back local edits that no snapshot held before the rollback', () => {
    const { ws, v1 } = twoVersions();
    const cfg = readJsonFile<Record<string, unknown>>(join(ws, 'snapgov.json'));
    writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, gates: [{ name: 'never', run: 'exit 3' }] }));
    writeFileSync(join(ws, 'artifacts/rules/b.yaml'), 'local edit, only in the safety snapshot\n');
    const t = runJson<Rollback>(ws, ['rollback', v1, '--revert-on-gate-failure']);
    expect(t.code).toBe(1);
    expect(t.doc.reverted).toBe(true);
    expect(readFileSync(join(ws, 'artifacts/rules/b.yaml'), 'utf8')).toBe('local edit, only in the safety snapshot\n');
    expect(runJson<{ live: { id: string } }>(ws, ['status']).doc.live.id).toBe(t.doc.safetySnapshot);
  });

  it('--revert-on-gate-failure with a damaged safety snapshot: exit 1, STORE_CORRUPT, the tree stays at the target, the journal is kept', () => {
    const { ws, v1 } = twoVersions();
    const edit = Buffer.alloc(2 << 20, 9); // large: a loose object whose path the gate can name
    const hash = sha256(edit);
    const obj = `snapshots/objects/${hash.slice(0, 2)}/${hash}`;
    const cfg = readJsonFile<Record<string, unknown>>(join(ws, 'snapgov.json'));
    // The gate damages the object the safety snapshot has just stored, then fails.
    writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, gates: [{ name: 'sabotage', run: `printf X | dd of=${obj} bs=1 seek=100 conv=notrunc 2>/dev/null; exit 3` }] }));
    writeFileSync(join(ws, 'artifacts/rules/b.yaml'), edit);
    const t = runJson<Rollback>(ws, ['rollback', v1, '--revert-on-gate-failure']);
    expect(t.code).toBe(1);
    expect(t.error!.code).toBe('STORE_CORRUPT');
    expect(t.error!.message).toMatch(/a gate failed, and the safety snapshot \w+ cannot be restored/);
    treeMatches(ws, v1);
    expect(readdirSync(join(ws, 'artifacts/rules')).filter((n) => n.startsWith('.snapgov-tmp-'))).toEqual([]);
    expect(existsSync(join(ws, 'snapshots/rollback-journal.json'))).toBe(true);
  });

  it.each([
    ['a few files, written inline', 3],
    ['2,100 files, written on worker threads', 2100],
  ])('refuses a target whose object turns out damaged while staging (%s): no file, folder, temp file or journal is left', (_name, n) => {
    const files: Record<string, string | Buffer> = { 'models/big.bin': Buffer.alloc(2 << 20, 7) };
    for (let i = 0; i < n; i++) files[`new/d${i % 50}/f${i}.txt`] = `file ${i}\n`;
    const ws = sampleWorkspace(files);
    const v1 = id(ws, ['-m', 'v1']);
    // The live tree loses the new folders and the model: the rollback has only files to write back.
    rmSync(join(ws, 'new'), { recursive: true });
    rmSync(join(ws, 'models'), { recursive: true });
    const hash = sha256(Buffer.alloc(2 << 20, 7));
    const obj = join(ws, 'snapshots/objects', hash.slice(0, 2), hash);
    chmodSync(obj, 0o644);
    const bytes = readFileSync(obj);
    bytes[12345] ^= 1;
    writeFileSync(obj, bytes);
    const before = readdirSync(ws, { recursive: true }).map(String).sort();
    const r = runJson<Rollback>(ws, ['rollback', v1]);
    expect(r.code).toBe(1);
    expect(r.error!.code).toBe('TARGET_INVALID');
    expect(r.error!.message).toMatch(/cannot be restored: an object it needs is damaged, for example models\/big.bin/);
    expect(r.error!.hint).toMatch(/nothing was changed/);
    // The safety snapshot is the only new thing in the store; the live tree is exactly as it was.
    const after = readdirSync(ws, { recursive: true }).map(String).sort();
    expect(after.filter((p) => !p.startsWith('snapshots') && !p.startsWith('metadata'))).toEqual(before.filter((p) => !p.startsWith('snapshots') && !p.startsWith('metadata')));
    expect(existsSync(join(ws, 'new'))).toBe(false);
    expect(existsSync(join(ws, 'snapshots/rollback-journal.json'))).toBe(false);
    expect(run(ws, ['status']).stderr).not.toMatch(/interrupted/);
  });

  it('re-reads every needed object first when a managed file stands where the target needs a folder, and refuses a damaged one with the file still there', () => {
    const model = Buffer.alloc(2 << 20, 5); // a loose object that can be damaged on its own
    const ws = sampleWorkspace({ 'cfg/model.bin': model });
    const v1 = id(ws);
    rmSync(join(ws, 'cfg'), { recursive: true });
    writeFileSync(join(ws, 'cfg'), 'a managed file where v1 has a folder');
    const hash = sha256(model);
    const obj = join(ws, 'snapshots/objects', hash.slice(0, 2), hash);
    chmodSync(obj, 0o644);
    const bytes = readFileSync(obj);
    bytes[777] ^= 1;
    writeFileSync(obj, bytes);
    const r = runJson<Rollback>(ws, ['rollback', v1]);
    expect(r.code).toBe(1);
    expect(r.error!.code).toBe('TARGET_INVALID');
    expect(r.error!.message).toMatch(/missing or damaged, for example cfg\/model.bin/);
    // Staging-as-the-check would have removed the file before finding the damage.
    expect(readFileSync(join(ws, 'cfg'), 'utf8')).toBe('a managed file where v1 has a folder');
    expect(existsSync(join(ws, 'snapshots/rollback-journal.json'))).toBe(false);
  });

  it('saves the stat cache in its safety snapshot, so a host that only rolls back hashes a restored tree once, not every time', async () => {
    const { ws, v2 } = twoVersions();
    // A full restore: every file is new, too recent for the cache when the rollback checks it.
    for (const name of readdirSync(ws)) if (!['snapgov.json', 'snapshots', 'metadata', 'rehearsal'].includes(name)) rmSync(join(ws, name), { recursive: true, force: true });
    expect(runJson(ws, ['rollback', v2, '--yes']).code).toBe(0);
    await new Promise((r) => setTimeout(r, 2100)); // past the cache's 2-second racy window
    writeFileSync(join(ws, 'artifacts/rules/b.yaml'), 'changed before the rollback\n');
    expect(runJson(ws, ['rollback', v2, '--yes']).code).toBe(0);
    // Every file the second rollback kept has a record with its current inode and content hash.
    const cache = readFileSync(join(ws, 'snapshots/cache/stat-cache'));
    const records = new Map<number, string>();
    for (let at = 8; at + 72 <= cache.length; at += 72) records.set(cache.readDoubleLE(at), cache.toString('hex', at + 40, at + 72));
    for (const path of ['artifacts/rules/a.yaml', 'artifacts/rules/c.yaml', 'artifacts/index.json', 'bin/deploy.sh']) {
      expect(records.get(statSync(join(ws, path)).ino), path).toBe(sha256(readFileSync(join(ws, path))));
    }
    expect(run(ws, ['verify', '--worktree']).code).toBe(0);
  });

  it('fails with exit 11 while another process holds the lock', () => {
    const { ws, v1 } = twoVersions();
    const holder = spawn('sleep', ['30']);
    try {
      const startTime = readFileSync(`/proc/${holder.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19];
      writeFileSync(
        join(ws, 'snapshots/locks/exclusive-x.json'),
        JSON.stringify({ kind: 'exclusive', pid: holder.pid, host: hostname(), machineId: readFileSync('/etc/machine-id', 'utf8').trim(), bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), startTime, time: '2026-01-01T00:00:00.000Z', command: 'create' }),
      );
      const r = runJson(ws, ['--lock-wait', '1s', 'rollback', v1]);
      expect(r.code).toBe(11);
    } finally {
      holder.kill();
    }
  });

  it.each([
    ['after 3 removals', 'rollback-remove:3'],
    ['while staging new files', 'rollback-stage:150'],
    ['between renames', 'rollback-rename:1'],
    ['between renames, later', 'rollback-rename:250'],
  ])('survives kill -9 %s: every file is old or new, the next command says so, and --resume finishes', (_name, fault) => {
    const ws = tempDir();
    const files = Array.from({ length: 300 }, (_, i) => `d${i % 10}/f${i}.txt`);
    writeTree(ws, Object.fromEntries(files.map((f) => [f, `new ${f}`])));
    expect(run(ws, ['init', '--no-index']).code).toBe(0);
    const target = id(ws);
    writeTree(ws, Object.fromEntries(files.map((f) => [f, `old ${f}`])));
    writeTree(ws, Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`extra/e${i}.txt`, 'extra'])));
    const before = id(ws);
    const killed = run(ws, ['rollback', target, '--yes'], { SNAPGOV_FAULT: fault });
    expect(killed.code).toBe(128); // killed by the signal
    for (const f of files) expect([`old ${f}`, `new ${f}`]).toContain(readFileSync(join(ws, f), 'utf8'));
    expect(existsSync(join(ws, 'snapshots/rollback-journal.json'))).toBe(true);
    expect(run(ws, ['status']).stderr).toMatch(/rollback was interrupted/);
    const resumed = runJson<Rollback>(ws, ['rollback', '--resume']);
    expect(resumed.code).toBe(0);
    expect(resumed.doc).toMatchObject({ to: target, from: before, verified: true });
    expect(resumed.doc.safetySnapshot).toBe(before);
    treeMatches(ws, target);
    expect(existsSync(join(ws, 'snapshots/rollback-journal.json'))).toBe(false);
    expect(run(ws, ['status']).stderr).toBe('');
    // and the safety snapshot undoes it
    expect(runJson(ws, ['rollback', before]).code).toBe(0);
    treeMatches(ws, before);
  });

  it('a damaged journal is reported, and an explicit rollback replaces it', () => {
    const { ws, v1 } = twoVersions();
    writeFileSync(join(ws, 'snapshots/rollback-journal.json'), '{ damaged');
    expect(run(ws, ['status']).stderr).toMatch(/rollback was interrupted/);
    const plain = runJson(ws, ['rollback']);
    expect(plain.code).toBe(1);
    expect(plain.error).toMatchObject({ code: 'STORE_CORRUPT' });
    expect(plain.error!.message).toMatch(/rollback journal/);
    expect(plain.error!.hint).toMatch(/snapgov rollback REF/);
    expect(runJson(ws, ['rollback', v1]).code).toBe(0);
    treeMatches(ws, v1);
    expect(existsSync(join(ws, 'snapshots/rollback-journal.json'))).toBe(false);
  });

  it('a plain `snapgov rollback` after a crash finishes the interrupted one', () => {
    const { ws, v1 } = twoVersions();
    expect(run(ws, ['rollback', v1], { SNAPGOV_FAULT: 'rollback-rename:1' }).code).toBe(128);
    const r = runJson<Rollback & { resumed: boolean }>(ws, ['rollback']);
    expect(r.code).toBe(0);
    expect(r.doc).toMatchObject({ to: v1, resumed: true, verified: true });
    treeMatches(ws, v1);
  });
});

describe('snapgov rollback on a tree it cannot write', () => {
  const chattr = (args: string[]) => spawnSync('chattr', args).status === 0;
  const canChattr = (() => {
    const probe = mkdtempSync(join(tmpdir(), 'snapgov-chattr-'));
    const ok = chattr(['+i', probe]) && chattr(['-i', probe]);
    rmSync(probe, { recursive: true, force: true });
    return ok;
  })();

  it.skipIf(!canChattr)('stops with a clear error, keeps the journal, and finishes after the cause is fixed', () => {
    const ws = tempDir();
    writeTree(ws, { 'a/one.txt': 'new 1', 'b/two.txt': 'new 2' });
    expect(run(ws, ['init', '--no-index']).code).toBe(0);
    const target = id(ws);
    writeTree(ws, { 'a/one.txt': 'old 1', 'b/two.txt': 'old 2' });
    id(ws);
    // an immutable folder: even root cannot create or rename files in it
    expect(chattr(['+i', join(ws, 'b')])).toBe(true);
    try {
      const r = runJson(ws, ['rollback', target, '--yes']);
      expect(r.code).toBe(1);
      expect(r.error!.message).toMatch(/stopped part-way/);
      expect(r.error!.message).toMatch(/permission denied|not permitted/i);
      expect(r.error!.hint).toMatch(/--resume/);
      expect(readFileSync(join(ws, 'b/two.txt'), 'utf8')).toBe('old 2');
      expect(['old 1', 'new 1']).toContain(readFileSync(join(ws, 'a/one.txt'), 'utf8'));
      expect(existsSync(join(ws, 'snapshots/rollback-journal.json'))).toBe(true);
    } finally {
      chattr(['-i', join(ws, 'b')]);
    }
    const resumed = runJson<Rollback>(ws, ['rollback', '--resume']);
    expect(resumed.code).toBe(0);
    treeMatches(ws, target);
  });
});

describe('snapgov rollback of a large tree (worker threads)', () => {
  it('restores an emptied tree of 2,500 files, and survives a kill between parallel renames', () => {
    const ws = tempDir();
    const files = Object.fromEntries(Array.from({ length: 2500 }, (_, i) => [`p${i % 25}/f${i}.txt`, `content ${i}\n`.repeat(1 + (i % 7))]));
    writeTree(ws, { ...files, 'tool.sh': { content: '#!/bin/sh\n', mode: 0o755 }, 'link': { symlink: 'p0/f0.txt' } });
    expect(run(ws, ['init', '--no-index']).code).toBe(0);
    const full = id(ws);
    for (const d of readdirSync(ws)) if (d !== 'snapgov.json' && d !== 'snapshots' && d !== 'metadata' && d !== 'rehearsal') rmSync(join(ws, d), { recursive: true });
    const r = runJson<Rollback>(ws, ['rollback', full]);
    expect(r.code).toBe(0);
    expect(r.doc.written).toBe(2502);
    treeMatches(ws, full);

    for (const d of readdirSync(ws)) if (d.startsWith('p')) rmSync(join(ws, d), { recursive: true });
    expect(run(ws, ['rollback', full, '--no-safety-snapshot'], { SNAPGOV_FAULT: 'rollback-rename:400' }).code).toBe(128);
    for (const [f, c] of Object.entries(files)) if (existsSync(join(ws, f))) expect(readFileSync(join(ws, f), 'utf8')).toBe(c);
    expect(runJson<Rollback>(ws, ['rollback', '--resume']).code).toBe(0);
    treeMatches(ws, full);
  });
});

describe('snapgov rollback on a terminal', () => {
  const hasScript = spawnSync('sh', ['-c', 'command -v script']).status === 0;
  it.skipIf(!hasScript)('asks before changing anything; "n" cancels (exit 1, CANCELLED), "y" proceeds; the wait for the answer is not in its duration', () => {
    const { ws, v1, v2 } = twoVersions();
    writeFileSync(join(ws, 'artifacts/rules/b.yaml'), 'edited');
    const metadataBefore = readdirSync(join(ws, 'metadata')).sort();
    // util-linux `script` gives the command a real terminal, so stdin.isTTY is true
    const onTty = (answer: string, delaySeconds = 0) =>
      spawnSync('sh', ['-c', `(sleep ${delaySeconds}; printf '${answer}') | script -qec "${process.execPath} ${join(REPO, 'bin/snapgov')} rollback ${v1}" /dev/null`], { cwd: ws, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    const no = onTty('n\n');
    expect(no.stdout).toMatch(/Proceed\? \[y\/N\]/);
    expect(no.status).toBe(1);
    expect(no.stdout).toMatch(/cancelled; nothing was changed/);
    expect(readdirSync(join(ws, 'metadata')).sort()).toEqual(metadataBefore); // not even a safety snapshot
    expect(readFileSync(join(ws, 'artifacts/rules/b.yaml'), 'utf8')).toBe('edited');
    expect(runJson<{ live: { id: string } }>(ws, ['status']).doc.live.id).toBe(v2);
    const yes = onTty('y\n', 3);
    expect(yes.status).toBe(0);
    treeMatches(ws, v1);
    // the person took 3 s to answer; the rollback of two files takes a fraction of that
    expect(Number(/took ([\d.]+) s/.exec(yes.stdout)![1])).toBeLessThan(2.5);
  });

  it('replaces a folder holding only nested removed files with a file (found by the property test)', () => {
    const ws = tempDir();
    writeTree(ws, { a: '' });
    expect(run(ws, ['init', '--no-index']).code).toBe(0);
    const first = runJson<{ id: string }>(ws, ['create']).doc.id;
    rmSync(join(ws, 'a'));
    writeTree(ws, { 'a/a/a': '' });
    expect(runJson(ws, ['create']).code).toBe(0);
    const r = runJson<Rollback>(ws, ['rollback', first, '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(lstatSync(join(ws, 'a')).isFile()).toBe(true);
    expect(runJson(ws, ['verify', first, '--worktree']).code).toBe(0);
  });
});
