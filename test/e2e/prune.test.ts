import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listFiles, readJsonFile, run, runAsync, runJson, sampleWorkspace, tempDir, writeTree } from '../helpers/cli.js';

interface Prune {
  dryRun: boolean;
  policy: string;
  keep: { id: string; time: string; reasons: string[] }[];
  remove: { id: string; time: string }[];
  future: string[];
  objectsDeleted: number;
  bytesFreed: number;
  packsDeleted: number;
  packsRewritten: number;
}

interface Gc {
  dryRun: boolean;
  snapshots: number;
  objectsDeleted: number;
  bytesFreed: number;
  packsDeleted: number;
  packsRewritten: number;
  orphanManifests: number;
}

/** A workspace with one snapshot per day: each adds a 1.5 MiB loose object and changes a small file. */
function history(days: number, opts: { tags?: Record<number, string> } = {}): { ws: string; ids: string[] } {
  const ws = tempDir();
  writeTree(ws, { 'keep.txt': 'shared by every snapshot\n' });
  expect(run(ws, ['init', '--no-index']).code).toBe(0);
  const ids: string[] = [];
  for (let d = 1; d <= days; d++) {
    writeFileSync(join(ws, 'day.txt'), `day ${d}\n`);
    writeFileSync(join(ws, 'big.bin'), Buffer.alloc(1536 * 1024, d));
    const tag = opts.tags?.[d];
    const r = runJson<{ id: string }>(ws, ['create', '--time', `2026-10-${String(d).padStart(2, '0')}T12:00:00Z`, ...(tag ? ['--tag', tag] : [])]);
    expect(r.code).toBe(0);
    ids.push(r.doc.id);
  }
  return { ws, ids };
}

const metadataIds = (ws: string) =>
  readdirSync(join(ws, 'metadata'))
    .filter((n) => /^[0-9a-f]{64}\.json$/.test(n))
    .map((n) => `sha256:${n.slice(0, 64)}`)
    .sort();
const storeFiles = (ws: string) => [...listFiles(join(ws, 'snapshots')).filter((f) => !f.startsWith('locks/') && !f.startsWith('cache/')), ...listFiles(join(ws, 'metadata'))];
const looseObjects = (ws: string) => listFiles(join(ws, 'snapshots/objects'));
const auditActions = (ws: string) => runJson<{ entries: { action: string; snapshots?: string[]; to?: string; reason?: string }[] }>(ws, ['audit']).doc.entries;
const verifiesAll = (ws: string) => {
  const v = runJson<{ ok: boolean; snapshots: unknown[] }>(ws, ['verify', '--all', '--read-data']);
  expect(v.code, JSON.stringify(v.doc)).toBe(0);
  return v.doc.snapshots.length;
};

describe('snapgov prune', () => {
  it('--dry-run explains every decision and changes nothing; the real run removes and collects', () => {
    const { ws, ids } = history(6);
    const before = storeFiles(ws);
    const dry = runJson<Prune>(ws, ['prune', '--keep-last', '2', '--keep-daily', '3', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.doc.dryRun).toBe(true);
    expect(dry.doc.policy).toBe('--keep-last 2 --keep-daily 3');
    expect(dry.doc.keep.map((k) => [k.id, k.reasons])).toEqual([
      [ids[5], ['last #1', 'daily #1', 'live']],
      [ids[4], ['last #2', 'daily #2']],
      [ids[3], ['daily #3']],
    ]);
    expect(dry.doc.remove.map((r) => r.id)).toEqual([ids[2], ids[1], ids[0]]);
    expect(dry.doc.remove[0]!.time).toBe('2026-10-03T12:00:00.000Z');
    // three big objects and three day.txt objects are referenced by nothing else
    expect(dry.doc.objectsDeleted).toBe(6);
    expect(dry.doc.bytesFreed).toBe(3 * 1536 * 1024 + 3 * 6);
    expect(storeFiles(ws)).toEqual(before);

    const real = runJson<Prune>(ws, ['prune', '--keep-last', '2', '--keep-daily', '3']);
    expect(real.code).toBe(0);
    expect({ ...real.doc, dryRun: true }).toEqual(dry.doc);
    expect(metadataIds(ws)).toEqual([ids[3], ids[4], ids[5]].sort());
    for (const gone of [ids[0], ids[1], ids[2]]) expect(existsSync(join(ws, 'snapshots/manifests', `${gone!.slice(7)}.json`))).toBe(false);
    expect(looseObjects(ws)).toHaveLength(3);
    expect(verifiesAll(ws)).toBe(3);
    const audit = auditActions(ws);
    expect(audit.filter((e) => e.action === 'prune-remove').map((e) => e.snapshots![0])).toEqual([ids[2], ids[1], ids[0]]);
    expect(audit[audit.length - 1]!.action).toBe('gc');
    expect(run(ws, ['audit', 'verify']).code).toBe(0);
    // the human report names each decision
    const human = run(ws, ['prune', '2', '--dry-run']);
    expect(human.stdout).toMatch(/keep\s+\w{12}\s+2026-10-06T12:00:00.000Z\s+last #1, live/);
    expect(human.stdout).toMatch(/remove\s+\w{12}\s+2026-10-04/);
  });

  it('never removes the live snapshot, pinned snapshots, fresh safety snapshots or what a rollback journal names', () => {
    const { ws, ids } = history(6);
    const pin = runJson<{ id: string; pinned: boolean; changed: boolean }>(ws, ['pin', ids[0]!.slice(7, 19), '--reason', 'audit evidence']);
    expect(pin.doc).toEqual({ format: 'snapgov-pin/1', id: ids[0], pinned: true, changed: true });
    expect(readJsonFile<{ pinned: { reason: string } }>(join(ws, 'metadata', `${ids[0]!.slice(7)}.json`)).pinned.reason).toBe('audit evidence');
    expect(runJson<{ changed: boolean }>(ws, ['pin', ids[0]!]).doc.changed).toBe(false);
    expect(runJson<{ snapshots: { id: string; pinned: boolean }[] }>(ws, ['list']).doc.snapshots.find((s) => s.id === ids[0])!.pinned).toBe(true);

    // Roll back to day 2 with a changed tree: the tree is then at day 2, and the safety snapshot is protected.
    writeFileSync(join(ws, 'day.txt'), 'edited by hand\n');
    const rb = runJson<{ safetySnapshot: string }>(ws, ['rollback', ids[1]!, '--yes']);
    expect(rb.code).toBe(0);
    const safety = rb.doc.safetySnapshot;
    // An interrupted rollback's journal protects the snapshots it names.
    writeFileSync(join(ws, 'snapshots/rollback-journal.json'), JSON.stringify({ format: 'snapgov-rollback-journal/1', to: ids[2], from: ids[1], safety: null, reason: null, startedAt: new Date().toISOString(), requestId: 'test' }));

    const r = runJson<Prune>(ws, ['prune', '1']);
    expect(r.code).toBe(0);
    const reasons = Object.fromEntries(r.doc.keep.map((k) => [k.id, k.reasons]));
    expect(reasons[ids[0]!]).toEqual(['pinned']);
    expect(reasons[ids[1]!]).toEqual(['live', 'rollback journal']);
    expect(reasons[ids[2]!]).toEqual(['rollback journal']);
    expect(reasons[safety]![0]).toBe('last #1');
    expect(reasons[safety]![1]).toMatch(/^safety until \d{4}-/);
    expect(r.doc.remove.map((x) => x.id).sort()).toEqual([ids[3], ids[4], ids[5]].sort());
    rmSync(join(ws, 'snapshots/rollback-journal.json'));

    // Unpinned, the rules apply again; unpin is audited too.
    expect(runJson<{ changed: boolean }>(ws, ['unpin', ids[0]!, '--reason', 'evidence archived']).doc.changed).toBe(true);
    const again = runJson<Prune>(ws, ['prune', '1']);
    expect(again.doc.remove.map((x) => x.id).sort()).toEqual([ids[0], ids[2]].sort());
    const audit = auditActions(ws);
    expect(audit.find((e) => e.action === 'pin')).toMatchObject({ to: ids[0], reason: 'audit evidence' });
    expect(audit.find((e) => e.action === 'unpin')).toMatchObject({ to: ids[0], reason: 'evidence archived' });
    expect(verifiesAll(ws)).toBe(2);
  });

  it('uses the config retention section; flags replace it; a bare number is --keep-last', () => {
    const { ws, ids } = history(5, { tags: { 1: 'release' } });
    const cfg = readJsonFile<Record<string, unknown>>(join(ws, 'snapgov.json'));
    writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, retention: { keepLast: 1, keepTags: ['release'] } }));
    const fromConfig = runJson<Prune>(ws, ['prune', '--dry-run']);
    expect(fromConfig.doc.policy).toBe('--keep-last 1 --keep-tag release');
    expect(fromConfig.doc.keep.map((k) => k.id)).toEqual([ids[4], ids[0]]);
    expect(fromConfig.doc.keep[1]!.reasons).toEqual(['tag release']);
    const flags = runJson<Prune>(ws, ['prune', '3', '--dry-run']);
    expect(flags.doc.policy).toBe('--keep-last 3');
    expect(flags.doc.keep.map((k) => k.id)).toEqual([ids[4], ids[3], ids[2]]);
    const within = runJson<Prune>(ws, ['prune', '--keep-within', '2d', '--dry-run']);
    expect(within.doc.keep.map((k) => [k.id, k.reasons[0]])).toEqual([
      [ids[4], 'within 2d'],
      [ids[3], 'within 2d'],
    ]);
    writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, retention: { timezone: 'Mars/Olympus' } }));
    const badTz = runJson(ws, ['prune', '--dry-run']);
    expect(badTz.code).toBe(2);
    expect(badTz.error!.code).toBe('CONFIG_INVALID');
    expect(badTz.error!.message).toContain('Mars/Olympus');
  });

  it('refuses bad rules, an empty policy, and a policy that removes everything, unless told', () => {
    const { ws, ids } = history(3);
    const before = storeFiles(ws);
    const cases: [string[], string, RegExp][] = [
      [['prune', '2', '--keep-last', '3'], 'USAGE', /either a bare number or --keep-last/],
      [['prune', '--keep-within', '3x'], 'USAGE', /keep-within "3x"/],
      [['prune', '--keep-daily', 'many'], 'USAGE', /--keep-daily "many" is not a whole number/],
      [['prune', '--keep-last', '0'], 'USAGE', /policy is empty/],
    ];
    for (const [args, code, message] of cases) {
      const r = runJson(ws, args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.error!.code).toBe(code);
      expect(r.error!.message).toMatch(message);
      expect(r.error!.hint).not.toBe('');
    }
    // Without a live pointer nothing is protected: a tag nobody has would remove all three.
    rmSync(join(ws, 'metadata/live.json'));
    const all = runJson(ws, ['prune', '--keep-tag', 'nobody']);
    expect(all.code).toBe(2);
    expect(all.error!.message).toMatch(/would remove all 3 snapshot\(s\)/);
    expect(storeFiles(ws)).toEqual(before.filter((f) => f !== 'live.json'));
    const forced = runJson<Prune>(ws, ['prune', '--keep-tag', 'nobody', '--allow-remove-all']);
    expect(forced.code).toBe(0);
    expect(forced.doc.remove.map((r) => r.id).sort()).toEqual([...ids].sort());
    expect(metadataIds(ws)).toEqual([]);
    expect(looseObjects(ws)).toEqual([]);
    expect(listFiles(join(ws, 'snapshots/packs'))).toEqual([]);
    expect(listFiles(join(ws, 'snapshots/manifests'))).toEqual([]);
  });

  it('keeps snapshots dated in the future and says so', () => {
    const { ws, ids } = history(3);
    writeFileSync(join(ws, 'day.txt'), 'skewed\n');
    const future = runJson<{ id: string }>(ws, ['create', '--time', '2099-01-01T00:00:00Z']).doc.id;
    const r = runJson<Prune>(ws, ['prune', '1', '--dry-run']);
    expect(r.doc.future).toEqual([future]);
    expect(r.doc.keep.find((k) => k.id === future)!.reasons).toEqual(['future timestamp', 'live']);
    // the newest real snapshot still fills keep-last 1
    expect(r.doc.keep.find((k) => k.id === ids[2])!.reasons).toEqual(['last #1']);
    expect(run(ws, ['prune', '1', '--dry-run']).stderr).toMatch(/dated in the future/);
  });

  it('rewrites a pack whose objects are partly unreferenced, keeping the rest readable', () => {
    const ws = sampleWorkspace();
    const v1 = runJson<{ id: string }>(ws, ['create', '--time', '2026-10-01T00:00:00Z']).doc.id;
    writeFileSync(join(ws, 'artifacts/rules/a.yaml'), 'rule: a2\n');
    writeFileSync(join(ws, 'artifacts/index.json'), JSON.stringify({ artifacts: [{ path: 'rules/a.yaml' }, { path: 'rules/b.yaml' }] }));
    const v2 = runJson<{ id: string }>(ws, ['create']).doc.id;
    const packsBefore = listFiles(join(ws, 'snapshots/packs'));
    expect(packsBefore).toHaveLength(2);
    const r = runJson<Prune>(ws, ['prune', '1']);
    expect(r.code).toBe(0);
    expect(r.doc.remove.map((x) => x.id)).toEqual([v1]);
    // v1's pack held a.yaml and the old index (dead) plus b.yaml and deploy.sh (still used by v2)
    expect(r.doc.packsRewritten).toBe(1);
    expect(r.doc.objectsDeleted).toBe(2);
    const packsAfter = listFiles(join(ws, 'snapshots/packs'));
    expect(packsAfter).toHaveLength(2);
    expect(packsAfter.filter((p) => packsBefore.includes(p))).toHaveLength(1);
    expect(verifiesAll(ws)).toBe(1);
    expect(runJson<Gc>(ws, ['gc']).doc.objectsDeleted).toBe(0);
    // the rollback path reads the rewritten pack
    rmSync(join(ws, 'artifacts'), { recursive: true });
    expect(run(ws, ['rollback', v2, '--yes']).code).toBe(0);
    expect(readFileSync(join(ws, 'artifacts/rules/b.yaml'), 'utf8')).toBe('rule: b\n');
  });

  it('refuses to run when a snapshot it keeps already misses data, and deletes nothing', () => {
    const { ws, ids } = history(4);
    const newestBig = readFileSync(join(ws, 'snapshots/manifests', `${ids[3]!.slice(7)}.json`), 'utf8').match(/"path":"big.bin".*"sha256":"([0-9a-f]{64})"/)![1]!;
    rmSync(join(ws, 'snapshots/objects', newestBig.slice(0, 2), newestBig), { force: true });
    const before = storeFiles(ws);
    const r = runJson(ws, ['prune', '1']);
    expect(r.code).toBe(1);
    expect(r.error!.code).toBe('STORE_CORRUPT');
    expect(r.error!.message).toMatch(new RegExp(`${ids[3]!.slice(7, 19)}: OBJECT_MISSING big.bin`));
    expect(storeFiles(ws)).toEqual(before);
    expect(runJson(ws, ['gc']).code).toBe(1);
    expect(storeFiles(ws)).toEqual(before);
  });

  it('an interrupted prune leaves a store that verifies, and the next prune finishes the job', () => {
    for (const fault of ['prune-remove:2', 'gc-delete:2']) {
      const { ws, ids } = history(5);
      const killed = run(ws, ['prune', '1'], { SNAPGOV_FAULT: fault });
      expect(killed.code, fault).not.toBe(0);
      const left = verifiesAll(ws);
      expect(left, fault).toBeGreaterThanOrEqual(1);
      expect(run(ws, ['audit', 'verify']).code).toBe(0);
      const again = runJson<Prune>(ws, ['prune', '1', '--lock-wait', '5s']);
      expect(again.code, again.stderr).toBe(0);
      expect(metadataIds(ws)).toEqual([ids[4]]);
      expect(runJson<Gc>(ws, ['gc', '--dry-run']).doc).toMatchObject({ objectsDeleted: 0, bytesFreed: 0, orphanManifests: 0 });
      expect(looseObjects(ws)).toHaveLength(1);
      expect(verifiesAll(ws)).toBe(1);
    }
  });

  it('a create racing a prune: both finish, every kept snapshot verifies with --read-data', async () => {
    const { ws } = history(4);
    writeFileSync(join(ws, 'day.txt'), 'racing\n');
    writeFileSync(join(ws, 'big.bin'), Buffer.alloc(3 << 20, 7));
    const [p, c] = await Promise.all([runAsync(ws, ['--json', '--lock-wait', '30s', 'prune', '1']), runAsync(ws, ['--json', '--lock-wait', '30s', 'create'])]);
    expect(p.code, p.stderr).toBe(0);
    expect(c.code, c.stderr).toBe(0);
    const created = (JSON.parse(c.stdout) as { id: string }).id;
    // The new snapshot is live, so whichever ran first, it survives.
    expect(metadataIds(ws)).toContain(created);
    expect(verifiesAll(ws)).toBeGreaterThanOrEqual(1);
  });
});

describe('snapgov gc', () => {
  it('a gc killed after writing its rewritten packs never deletes them on the next run (found by the crash harness)', () => {
    // The next gc rewrites the old pack again, byte for byte: the same name as the pack it then drops.
    // Whether it does depends on the directory order, so several stores are tried.
    for (let t = 0; t < 12; t++) {
      const ws = tempDir();
      const tree = (round: number) => {
        const files: Record<string, string> = {};
        for (let i = 0; i < 30; i++) files[`d${i % 3}/f${i}.txt`] = `file ${i} of store ${t}, round ${i % 5 === 0 ? round : 0}\n`;
        writeTree(ws, files);
      };
      tree(0);
      expect(run(ws, ['init', '--no-index']).code).toBe(0);
      const ids = [1, 2, 3].map((round) => (tree(round), runJson<{ id: string }>(ws, ['create']).doc.id));
      rmSync(join(ws, 'metadata', `${ids[0]!.slice(7)}.json`));
      expect(run(ws, ['gc'], { SNAPGOV_FAULT: 'gc-delete:1' }).code).not.toBe(0);
      expect(verifiesAll(ws)).toBe(2);
      expect(run(ws, ['gc']).code).toBe(0);
      expect(verifiesAll(ws), `store ${t}`).toBe(2);
    }
  });

  it('collects objects and manifests left by an interrupted create, and nothing else', () => {
    const { ws, ids } = history(2);
    // What a create killed after writing its manifest leaves: objects and a manifest, no metadata.
    rmSync(join(ws, 'metadata', `${ids[1]!.slice(7)}.json`));
    writeFileSync(join(ws, 'snapshots/tmp/pack-1-abc.tmp'), 'half-written');
    const dry = runJson<Gc>(ws, ['gc', '--dry-run']);
    expect(dry.doc).toEqual({ format: 'snapgov-gc/1', dryRun: true, snapshots: 1, objectsDeleted: 2, bytesFreed: 1536 * 1024 + 6, packsDeleted: 1, packsRewritten: 0, orphanManifests: 1 });
    expect(existsSync(join(ws, 'snapshots/tmp/pack-1-abc.tmp'))).toBe(true);
    const r = runJson<Gc>(ws, ['gc']);
    expect(r.code).toBe(0);
    expect({ ...r.doc, dryRun: true }).toEqual(dry.doc);
    expect(listFiles(join(ws, 'snapshots/manifests'))).toEqual([`${ids[0]!.slice(7)}.json`]);
    expect(listFiles(join(ws, 'snapshots/tmp'))).toEqual([]);
    expect(verifiesAll(ws)).toBe(1);
    const human = run(ws, ['gc']);
    expect(human.stdout).toMatch(/nothing to collect/);
  });
});
