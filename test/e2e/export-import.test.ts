import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { listFiles, run, runJson, sampleWorkspace, sha256, tempDir } from '../helpers/cli.js';
import { writeTar, type Member } from '../helpers/tarball.js';

function exported(): { ws: string; id: string; tar: string; members: Member[] } {
  const ws = sampleWorkspace({ 'model.bin': randomBytes(1536 * 1024) });
  const id = runJson<{ id: string }>(ws, ['create', '-m', 'to ship']).doc.id;
  const tar = join(tempDir(), 'snap.tar');
  const r = runJson<{ id: string; file: string; objects: number }>(ws, ['export', 'latest', '-o', tar]);
  expect(r.code).toBe(0);
  expect(r.doc).toMatchObject({ id, file: tar, objects: 5 });
  // read the members back with GNU tar, the way a person would inspect the archive
  const names = spawnSync('tar', ['-tf', tar], { encoding: 'utf8' }).stdout.trim().split('\n');
  const members: Member[] = names.map((path) => ({ path, data: spawnSync('tar', ['-xOf', tar, path], { maxBuffer: 1 << 30 }).stdout as Buffer }));
  return { ws, id, tar, members };
}

function storeSnapshot(ws: string): string[] {
  return listFiles(join(ws, 'snapshots')).filter((f) => !f.startsWith('locks/') && !f.startsWith('cache/')).concat(listFiles(join(ws, 'metadata')));
}

describe('snapgov export and import', () => {
  it('moves a snapshot with its metadata to another store, byte for byte', () => {
    const { id, tar, members } = exported();
    expect(members.map((m) => m.path).slice(0, 3)).toEqual(['snapgov-export.json', 'manifest.json', 'metadata.json']);
    expect(sha256(members[1]!.data as Buffer)).toBe(id.slice(7));
    for (const m of members.slice(3)) expect(sha256(m.data as Buffer)).toBe(m.path.slice('objects/'.length));

    const other = tempDir();
    expect(run(other, ['init', '--no-index']).code).toBe(0);
    const r = runJson<{ id: string; imported: boolean; newObjects: number }>(other, ['import', tar]);
    expect(r.code).toBe(0);
    expect(r.doc).toMatchObject({ id, imported: true, newObjects: 5 });
    expect(runJson<{ ok: boolean }>(other, ['verify', '--all', '--read-data']).doc.ok).toBe(true);
    expect(runJson<{ message: string }>(other, ['info', id]).doc.message).toBe('to ship');
    const audit = runJson<{ entries: { action: string; to?: string }[] }>(other, ['audit']).doc.entries;
    expect(audit.at(-1)).toMatchObject({ action: 'import', to: id });
    const again = runJson<{ imported: boolean }>(other, ['import', tar]);
    expect(again.doc.imported).toBe(false);
    expect(readdirSync(join(other, 'snapshots/tmp'))).toEqual([]);
  });

  it('writes to stdout with -o -', () => {
    const ws = sampleWorkspace();
    runJson(ws, ['create']);
    const r = spawnSync(process.execPath, [join(__dirname, '../../bin/snapgov'), 'export', 'latest', '-o', '-'], { cwd: ws });
    expect(r.status).toBe(0);
    const file = join(tempDir(), 'out.tar');
    writeFileSync(file, r.stdout);
    const other = tempDir();
    run(other, ['init']);
    expect(run(other, ['import', file]).code).toBe(0);
  });

  const hostile: [string, (m: Member[]) => Member[], number, string, RegExp][] = [
    ['a ../ path', (m) => [...m, { path: '../evil.txt', data: 'x' }], 1, 'ARCHIVE_UNSAFE', /unsafe path/],
    ['an absolute path', (m) => [...m, { path: '/tmp/evil.txt', data: 'x' }], 1, 'ARCHIVE_UNSAFE', /absolute path/],
    ['a symlink member', (m) => [...m.slice(0, 3), { path: 'objects/link', type: 'SymbolicLink', linkpath: '/etc/passwd' }, ...m.slice(3)], 1, 'ARCHIVE_UNSAFE', /SymbolicLink/],
    ['a hard link escaping', (m) => [...m.slice(0, 3), { path: 'objects/hl', type: 'Link', linkpath: '../../etc/passwd' }], 1, 'ARCHIVE_UNSAFE', /Link/],
    ['a device file', (m) => [...m.slice(0, 3), { path: 'objects/dev', type: 'CharacterDevice' }], 1, 'ARCHIVE_UNSAFE', /CharacterDevice/],
    ['a duplicate member', (m) => [...m, m[3]!], 1, 'ARCHIVE_INVALID', /appears twice/],
    ['a missing object', (m) => m.filter((x) => (x.data as Buffer).length !== 1536 * 1024), 1, 'ARCHIVE_INVALID', /missing from the archive/],
    ['a corrupted object', (m) => [...m.slice(0, 3), { path: m[3]!.path, data: Buffer.concat([(m[3]!.data as Buffer).subarray(1), Buffer.from('!')]) }, ...m.slice(4)], 1, 'ARCHIVE_INVALID', /corrupt/],
    ['a gigantic declared size', (m) => [...m.slice(0, 3), { path: m[3]!.path, data: '', size: 2 ** 40 }], 1, 'ARCHIVE_INVALID', /declares/],
    ['an object the manifest does not list', (m) => [...m, { path: `objects/${sha256('x')}`, data: 'x' }], 1, 'ARCHIVE_INVALID', /not referenced/],
    ['a tampered manifest', (m) => [m[0]!, { path: 'manifest.json', data: (m[1]!.data as Buffer).toString().replace('"0644"', '"0755"') }, ...m.slice(2)], 1, 'ARCHIVE_INVALID', /hashes to/],
    ['an unknown member', (m) => [...m, { path: 'README', data: 'hi' }], 1, 'ARCHIVE_INVALID', /unexpected archive member/],
    ['objects before the manifest', (m) => [m[0]!, ...m.slice(3), m[1]!, m[2]!], 1, 'ARCHIVE_INVALID', /before the manifest/],
    ['no export header', (m) => m.slice(1), 2, 'NOT_AN_EXPORT', /not a snapgov export/],
  ];

  it.each(hostile)('refuses an archive with %s, writing nothing', (_name, tamper, code, errCode, message) => {
    const { members } = exported();
    const target = sampleWorkspace();
    runJson(target, ['create']);
    const before = storeSnapshot(target);
    const evil = join(tempDir(), 'evil.tar');
    writeTar(evil, tamper(members));
    const r = runJson(target, ['import', evil]);
    expect(r.code).toBe(code);
    expect(r.error!.code).toBe(errCode);
    expect(r.error!.message).toMatch(message);
    expect(storeSnapshot(target)).toEqual(before);
    expect(existsSync(join(target, '..', 'evil.txt'))).toBe(false);
    expect(runJson<{ ok: boolean }>(target, ['verify', '--all', '--read-data']).doc.ok).toBe(true);
  });

  it('refuses files that are not snapgov exports with exit 2', () => {
    const ws = sampleWorkspace();
    const dir = tempDir();
    writeFileSync(join(dir, 'text.tar'), 'this is not a tar archive at all, just text\n'.repeat(30));
    writeFileSync(join(dir, 'empty.tar'), '');
    spawnSync('tar', ['-cf', join(dir, 'plain.tar'), '-C', ws, 'artifacts']);
    for (const f of ['text.tar', 'empty.tar', 'plain.tar']) {
      const r = runJson(ws, ['import', join(dir, f)]);
      expect(r.code, f).toBe(2);
      expect(r.error!.code, f).toBe('NOT_AN_EXPORT');
    }
    expect(runJson(ws, ['import', join(dir, 'nope.tar')]).code).toBe(2);
  });

  it('does not export a damaged snapshot', () => {
    const ws = sampleWorkspace();
    runJson(ws, ['create']);
    const packs = join(ws, 'snapshots/packs');
    const pack = join(packs, readdirSync(packs)[0]!);
    const b = readFileSync(pack);
    b[0] = b[0]! ^ 1;
    writeFileSync(pack, b);
    const out = join(tempDir(), 'x.tar');
    const r = runJson(ws, ['export', 'latest', '-o', out]);
    expect(r.code).toBe(1);
    expect(r.error!.code).toBe('STORE_CORRUPT');
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(join(out, '..'))).toEqual([]);
  });
});
