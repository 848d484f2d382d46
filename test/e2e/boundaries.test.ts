// Boundaries an attacker or a slip can cross (issue 23): each test fails without its fix. The
// hostile corpus (test/fixtures/hostile/corpus.json) holds the one-command cases of each class.
import { describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BIN, listFiles, readJsonFile, run, runJson, sampleWorkspace, tempDir } from '../helpers/cli.js';

// ESC, BEL, CR and C1's one-byte CSI: what can rewrite a terminal's screen, title or clipboard.
const RAW = /[\u001b\u0007\r\u009b]/;

describe('nothing an input carries is printed raw to a terminal', () => {
  it('tags, labels, messages and file names from a tampered store are escaped in human output; JSON keeps them exact', () => {
    const ws = sampleWorkspace();
    const v1 = runJson<{ id: string }>(ws, ['create']).doc.id;
    writeFileSync(join(ws, 'artifacts', 'evil\u001b]0;owned\u0007.txt'), 'x');
    const v2 = runJson<{ id: string }>(ws, ['create', '--allow-inconsistent-index']).doc.id;
    // What an imported archive or a hand edit can put in the metadata (create refuses it).
    const mdPath = join(ws, 'metadata', `${v2.slice(7)}.json`);
    const md = readJsonFile<Record<string, unknown>>(mdPath);
    writeFileSync(mdPath, JSON.stringify({ ...md, tags: ['\u001b[2Jwiped'], labels: { 'k\u009b31m': 'v\r' }, message: 'bell\u0007 and\rover' }));
    writeFileSync(join(ws, 'artifacts', 'evil\u001b]0;owned\u0007.txt'), 'changed');
    for (const args of [['list'], ['info', v2], ['status'], ['diff', v1, v2], ['diff', v1], ['rollback', v1, '--dry-run'], ['audit'], ['cat', `${v2}:artifacts`], ['tag', v2, '--label', 'x=1']]) {
      const r = run(ws, args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stdout + r.stderr, args.join(' ')).not.toMatch(RAW);
    }
    expect(run(ws, ['list']).stdout).toContain('\\u001b[2Jwiped');
    // a REF holding them is escaped in the error too
    const bad = run(ws, ['info', 'tag:\u001b[31mnope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).not.toMatch(RAW);
    expect(runJson<{ tags: string[] }>(ws, ['info', v2]).doc.tags).toEqual(['\u001b[2Jwiped']);
  });
});

describe('the store is never part of the managed tree', () => {
  it('init refuses store folders that are the workspace, hold it or each other, or are not a store, and writes nothing', () => {
    for (const [flags, message] of [
      [{ snapshots: '.' }, /is the workspace root/],
      [{ metadata: '..' }, /holds the workspace root/],
      [{ metadata: 'snapshots' }, /same folder/],
      [{ rehearsal: 'snapshots/drills' }, /one inside the other/],
      [{ snapshots: 'docs' }, /did not make/],
    ] as const) {
      const ws = tempDir();
      writeFileSync(join(ws, 'a.txt'), 'a');
      mkdirSync(join(ws, 'docs'));
      writeFileSync(join(ws, 'docs/guide.md'), 'mine');
      // the store folders as a config gives them: init --force takes an existing config's
      writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ version: 1, index: null, store: { snapshots: 'snapshots', metadata: 'metadata', rehearsal: 'rehearsal', ...flags } }));
      const before = listFiles(ws);
      const r = runJson(ws, ['init', '--force']);
      expect(r.code, JSON.stringify(flags)).toBe(2);
      expect(r.error!.code).toBe('CONFIG_INVALID');
      expect(r.error!.message).toMatch(message);
      expect(listFiles(ws)).toEqual(before);
    }
  });

  it('a rollback under a config whose store is the workspace root deletes nothing', () => {
    const ws = sampleWorkspace();
    const v1 = runJson<{ id: string }>(ws, ['create']).doc.id;
    const cfgPath = join(ws, 'snapgov.json');
    const cfg = readJsonFile<{ store: Record<string, string> }>(cfgPath);
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, store: { ...cfg.store, metadata: '.' } }));
    const before = listFiles(ws);
    expect(runJson(ws, ['rollback', v1, '--yes']).code).toBe(2);
    expect(runJson(ws, ['audit', 'verify']).code).toBe(2);
    expect(listFiles(ws)).toEqual(before);
  });
});

describe('nothing outside the store is deleted or written through a link', () => {
  it('prune and gc refuse a linked tmp folder and leave what it points to', () => {
    const ws = sampleWorkspace();
    expect(runJson(ws, ['create']).code).toBe(0);
    const victim = tempDir('snapgov-victim-');
    writeFileSync(join(victim, 'precious.txt'), 'keep');
    writeFileSync(join(victim, 'pack-1-abc.tmp'), 'looks like a temp file');
    const tmp = join(ws, 'snapshots/tmp');
    rmdirSync(tmp);
    symlinkSync(victim, tmp);
    for (const args of [['gc'], ['prune', '--keep-last', '1'], ['create']]) {
      const r = runJson(ws, args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.error!.code).toBe('STORE_CORRUPT');
    }
    expect(readdirSync(victim).sort()).toEqual(['pack-1-abc.tmp', 'precious.txt']);
  });

  it('export -o refuses the store, the managed tree and links; rehearse --sandbox refuses a link', () => {
    const ws = sampleWorkspace();
    const v1 = runJson<{ id: string }>(ws, ['create']).doc.id;
    const log = readFileSync(join(ws, 'metadata/audit.log'));
    for (const out of ['metadata/audit.log', join(ws, 'snapshots/packs/x.pack'), 'artifacts/v1.tar']) expect(runJson(ws, ['export', v1, '-o', out]).code, out).toBe(2);
    const link = join(tempDir(), 'link.tar');
    symlinkSync(join(ws, 'metadata/audit.log'), link);
    expect(runJson(ws, ['export', v1, '-o', link]).code).toBe(2);
    expect(readFileSync(join(ws, 'metadata/audit.log'))).toEqual(log);
    // outside the workspace, or in an excluded folder, is fine
    expect(runJson(ws, ['export', v1, '-o', join(tempDir(), 'ok.tar')]).code).toBe(0);
    const sandboxLink = join(tempDir(), 'sb');
    symlinkSync(join(ws, 'artifacts'), sandboxLink);
    expect(runJson(ws, ['rehearse', '--sandbox', sandboxLink]).code).toBe(2);
    expect(existsSync(join(ws, 'artifacts/index.json'))).toBe(true);
  });
});

describe('globs stay inside the workspace', () => {
  it('an include that leaves the workspace is a config error before any walk, and names no file above it', () => {
    const parent = tempDir();
    for (let i = 0; i < 50; i++) writeFileSync(join(parent, `secret-${i}.txt`), 's');
    const ws = join(parent, 'ws');
    mkdirSync(ws);
    writeFileSync(join(ws, 'a.txt'), 'a');
    const r = runJson(ws, ['init', '--no-index', '--include', '../**']);
    expect(r.code).toBe(2);
    expect(r.error!.message).toContain('leaves the workspace');
    expect(JSON.stringify(r.error)).not.toContain('secret-');
    expect(existsSync(join(ws, 'snapgov.json'))).toBe(false);
  });
});

describe('the audit trail cannot be erased or shortened silently', () => {
  const lines = (ws: string) => readFileSync(join(ws, 'metadata/audit.log'), 'utf8');

  it('a store with snapshots and no trail fails audit verify, and no command starts a new trail over it', () => {
    const ws = sampleWorkspace();
    expect(runJson(ws, ['create']).code).toBe(0);
    rmSync(join(ws, 'metadata/audit.log'));
    rmSync(join(ws, 'metadata/audit.head'));
    const v = runJson<{ ok: boolean; problems: { message: string }[] }>(ws, ['audit', 'verify']);
    expect(v.code).toBe(1);
    expect(v.doc.problems.map((p) => p.message).join()).toContain('missing while the store holds snapshots');
    writeFileSync(join(ws, 'artifacts/extra.txt'), 'x');
    const c = runJson(ws, ['create', '--allow-inconsistent-index']);
    expect(c.code).toBe(1);
    expect(c.error!.code).toBe('STORE_CORRUPT');
    expect(existsSync(join(ws, 'metadata/audit.log'))).toBe(false);
    expect(runJson<{ snapshots: unknown[] }>(ws, ['list']).doc.snapshots).toHaveLength(1);
  });

  it('a log cut short of its head is refused, not repaired as a torn write', () => {
    const ws = sampleWorkspace();
    const id = runJson<{ id: string }>(ws, ['create']).doc.id;
    const text = lines(ws);
    writeFileSync(join(ws, 'metadata/audit.log'), text.slice(0, -1)); // one trailing byte: the committed last line's newline
    const p = runJson(ws, ['pin', id]);
    expect(p.code, JSON.stringify(p)).toBe(1);
    expect(p.error!.message).toContain('committed lines were cut');
    expect(lines(ws)).toBe(text.slice(0, -1)); // nothing cut off
    expect(runJson(ws, ['audit', 'verify']).code).toBe(1);
  });

  it('a torn append (bytes the head does not cover) is still cut, and a line written before its head is kept', () => {
    const ws = sampleWorkspace();
    const id = runJson<{ id: string }>(ws, ['create']).doc.id;
    const text = lines(ws);
    writeFileSync(join(ws, 'metadata/audit.log'), `${text}{"seq":3,"time":"20`);
    expect(runJson(ws, ['pin', id]).code).toBe(0);
    expect(runJson(ws, ['audit', 'verify']).code).toBe(0);
    // a crash after the line was synced and before the head moved: the head names the line before
    const all = lines(ws).trimEnd().split('\n');
    const prevHead = JSON.parse(all[all.length - 1]!) as { prev: string; seq: number };
    writeFileSync(join(ws, 'metadata/audit.head'), JSON.stringify({ seq: prevHead.seq - 1, hash: prevHead.prev }) + '\n');
    expect(runJson(ws, ['unpin', id]).code).toBe(0);
    const v = runJson<{ ok: boolean; entries: number }>(ws, ['audit', 'verify']);
    expect(v.doc).toMatchObject({ ok: true, entries: all.length + 1 });
  });

  it('a create killed between its record and its metadata leaves a record and no snapshot, never a snapshot without one', () => {
    const ws = sampleWorkspace();
    expect(runJson(ws, ['create']).code).toBe(0);
    writeFileSync(join(ws, 'artifacts/extra.txt'), 'x');
    expect(run(ws, ['create', '--allow-inconsistent-index'], { SNAPGOV_FAULT: 'create-publish:1' }).code).toBe(128);
    const listed = runJson<{ snapshots: { id: string }[] }>(ws, ['list']).doc.snapshots.map((s) => s.id);
    const recorded = runJson<{ entries: { action: string; to?: string }[] }>(ws, ['audit']).doc.entries.filter((e) => e.action === 'create').map((e) => e.to);
    for (const s of listed) expect(recorded).toContain(s);
    expect(listed).toHaveLength(1);
    expect(runJson(ws, ['audit', 'verify']).code).toBe(0);
    expect(runJson<{ created: boolean }>(ws, ['create', '--allow-inconsistent-index']).doc.created).toBe(true);
  });
});

describe('a failure never streams data it should refuse', () => {
  it('export -o - sends no byte of a damaged object, and the cut stream is refused by import and by tar', () => {
    const big = Buffer.alloc(3 << 20, 1);
    const ws = sampleWorkspace({ 'data/big.bin': big });
    const id = runJson<{ id: string }>(ws, ['create']).doc.id;
    const hash = createHash('sha256').update(big).digest('hex');
    const loose = join(ws, 'snapshots/objects', hash.slice(0, 2), hash);
    chmodSync(loose, 0o644);
    const damaged = Buffer.from(big);
    damaged[damaged.length - 1] = 2;
    writeFileSync(loose, damaged);
    const r = spawnSync(process.execPath, [BIN, 'export', id, '-o', '-'], { cwd: ws, maxBuffer: 64 << 20 });
    expect(r.status).toBe(1);
    expect(r.stdout.length).toBeLessThan(1 << 20);
    expect(r.stdout.includes(Buffer.from(`objects/${hash}`))).toBe(false);
    const cut = join(tempDir(), 'cut.tar');
    writeFileSync(cut, r.stdout);
    expect(spawnSync('tar', ['-tf', cut]).status).not.toBe(0);
    const other = tempDir();
    expect(run(other, ['init', '--no-index']).code).toBe(0);
    const imp = runJson(other, ['import', cut]);
    expect(imp.code).toBe(1);
    expect(imp.error!.code).toBe('ARCHIVE_INVALID');
  });
});

describe('trust of configuration', () => {
  const root = process.geteuid?.() === 0;
  it.skipIf(!root)("a workspace owned by another user, or writable by anyone, is refused until SNAPGOV_SAFE_DIRECTORY allows it (as git's safe.directory)", () => {
    const ws = sampleWorkspace();
    expect(runJson(ws, ['create']).code).toBe(0);
    spawnSync('chown', ['-R', '65534', ws]);
    const below = join(ws, 'artifacts');
    const r = runJson(below, ['list']);
    expect(r.code).toBe(2);
    expect(r.error!.message).toContain('belongs to user 65534');
    expect(r.error!.hint).toContain(`SNAPGOV_SAFE_DIRECTORY=${ws}`);
    expect(runJson(below, ['list'], { SNAPGOV_SAFE_DIRECTORY: ws }).code).toBe(0);
    expect(runJson(below, ['list'], { SNAPGOV_SAFE_DIRECTORY: '/elsewhere:*' }).code).toBe(0);
    spawnSync('chown', ['-R', '0', ws]);
    chmodSync(join(ws, 'snapgov.json'), 0o666);
    expect(runJson(ws, ['list']).error!.message).toContain('writable by anyone');
    chmodSync(join(ws, 'snapgov.json'), 0o644);
    expect(runJson(ws, ['list']).code).toBe(0);
    // a folder anyone may write could get its config replaced; a sticky one (as /tmp) cannot
    chmodSync(ws, 0o777);
    expect(runJson(ws, ['list']).error!.message).toContain('writable by anyone');
    chmodSync(ws, 0o1777);
    expect(runJson(ws, ['list']).code).toBe(0);
  });
});

describe('the smaller ones', () => {
  it('gc removes the temporary files of a killed import even when there is nothing else to collect', () => {
    const ws = sampleWorkspace();
    expect(runJson(ws, ['create']).code).toBe(0);
    // what a killed import leaves: a staged pack and a half-written metadata file
    writeFileSync(join(ws, 'snapshots/tmp/pack-4242-0a1b2c3d.tmp'), Buffer.alloc(4096, 1));
    writeFileSync(join(ws, 'metadata/.abc.json.tmp-4242-0a1b2c3d'), '{"half');
    const r = runJson<{ objectsDeleted: number }>(ws, ['gc']);
    expect(r.code).toBe(0);
    expect(r.doc.objectsDeleted).toBe(0);
    expect(readdirSync(join(ws, 'snapshots/tmp'))).toEqual([]);
    expect(readdirSync(join(ws, 'metadata')).filter((n) => n.includes('.tmp-'))).toEqual([]);
    expect(runJson(ws, ['verify', '--all', '--read-data']).code).toBe(0);
  });
});
