// Push and pull through a real registry (Debian's docker-registry on 127.0.0.1), with skopeo as an
// independent client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listFiles, readJsonFile, run, runAsync, runJson, sampleWorkspace, tempDir } from '../helpers/cli.js';
import { HAVE_REGISTRY, HAVE_SKOPEO, startRegistry, type Registry } from '../helpers/registry.js';

interface Pushed {
  pushes: { id: string; digest: string; tags: string[]; blobs: { uploaded: number; present: number; uploadedBytes: number; presentBytes: number }; packs: { reused: number; written: number }; signatures: { pushed: number; present: number } }[];
}
interface Pulled {
  id: string;
  digest: string;
  pulled: boolean;
  newObjects: number;
  downloadedBytes: number;
  signatures: { trusted: boolean; valid: boolean }[];
}

let reg: Registry;
beforeAll(async () => {
  if (!HAVE_REGISTRY || !HAVE_SKOPEO) throw new Error('docker-registry or skopeo is not installed: `.ci/run` installs them (apt-get install docker-registry skopeo)');
  reg = await startRegistry();
}, 30_000);
afterAll(async () => reg?.stop());

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const auditActions = (ws: string) => readFileSync(join(ws, 'metadata/audit.log'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { action: string }).action);
/** An empty workspace with a store: a fleet host before its first pull. */
function host(): string {
  const ws = tempDir();
  expect(run(ws, ['init', '--no-index']).code).toBe(0);
  return ws;
}
/** A tree of many small files and one large one, so a snapshot has packs and an object blob. */
function bigWorkspace(): string {
  const files: Record<string, string | Buffer> = { 'model.bin': Buffer.alloc(5 << 20, 3) };
  for (let i = 0; i < 200; i++) files[`artifacts/rules/r${i}.yaml`] = `rule: ${i}\n${'x'.repeat(2000 + i)}\n`;
  return sampleWorkspace(files);
}

describe('push and pull through a registry', () => {
  it('pushes a snapshot that skopeo reads, pulls it into an empty store, verifies and rolls back; a second push uploads nothing', () => {
    const ws = bigWorkspace();
    const id = runJson<{ id: string }>(ws, ['create']).doc.id;
    const remote = `oci://${reg.host}/snapgov/one:prod`;
    const p = runJson<Pushed>(ws, ['push', remote]);
    expect(p.code, p.stderr).toBe(0);
    const first = p.doc.pushes[0]!;
    expect(first).toMatchObject({ id, tags: [`snap-${id.slice(7)}`, 'prod'], packs: { reused: 0 } });
    expect(first.blobs.uploaded).toBeGreaterThanOrEqual(4); // manifest, config, a pack, the model
    expect(auditActions(ws).at(-1)).toBe('push');
    const raw = spawnSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/snapgov/one:prod`]);
    expect(raw.status, raw.stderr?.toString()).toBe(0);
    expect(`sha256:${sha(raw.stdout as Buffer)}`).toBe(first.digest);
    const doc = JSON.parse(raw.stdout.toString()) as { artifactType: string; layers: { digest: string }[] };
    expect(doc.artifactType).toBe('application/vnd.snapgov.snapshot.v1');
    expect(doc.layers[0]!.digest).toBe(id); // the first layer's blob is the snapshot manifest: its digest is the ID
    // a copy made by skopeo into another repository is a snapshot snapgov pulls
    const copy = spawnSync('skopeo', ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${reg.host}/snapgov/one:prod`, `docker://${reg.host}/snapgov/copy:v1`], { encoding: 'utf8' });
    expect(copy.status, copy.stderr).toBe(0);
    const h2 = host();
    expect(runJson<Pulled>(h2, ['pull', `oci://${reg.host}/snapgov/copy:v1`]).doc).toMatchObject({ id, pulled: true });
    expect(run(h2, ['verify', id, '--read-data']).code).toBe(0);
    const again = runJson<Pushed>(ws, ['push', remote]);
    expect(again.doc.pushes[0]!.digest).toBe(first.digest);
    expect(again.doc.pushes[0]!.blobs.uploaded).toBe(0);

    const h = host();
    const pulled = runJson<Pulled>(h, ['pull', remote]);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.doc).toMatchObject({ id, digest: first.digest, pulled: true });
    expect(run(h, ['verify', id, '--read-data']).code).toBe(0);
    expect(auditActions(h).at(-1)).toBe('pull');
    const rb = run(h, ['rollback', id, '--yes']);
    expect(rb.code, rb.stderr).toBe(0);
    expect(readFileSync(join(h, 'artifacts/rules/r7.yaml'))).toEqual(readFileSync(join(ws, 'artifacts/rules/r7.yaml')));
    expect(readFileSync(join(h, 'model.bin')).equals(readFileSync(join(ws, 'model.bin')))).toBe(true);
    expect(runJson<Pulled>(h, ['pull', remote]).doc.pulled).toBe(false);
  });

  it('moves little after a small change: the push reuses the packs, the pull fetches ranges', () => {
    const ws = bigWorkspace();
    const remote = `oci://${reg.host}/snapgov/inc:prod`;
    runJson(ws, ['create']);
    const p1 = runJson<Pushed>(ws, ['push', remote]).doc.pushes[0]!;
    const h = host();
    expect(run(h, ['pull', remote]).code).toBe(0);
    writeFileSync(join(ws, 'artifacts/rules/r3.yaml'), 'rule: changed\n');
    const id2 = runJson<{ id: string }>(ws, ['create']).doc.id;
    const p2 = runJson<Pushed>(ws, ['push', remote]).doc.pushes[0]!;
    expect(p2.packs.reused).toBeGreaterThanOrEqual(1);
    // the changed file, the new pack that holds it, the manifest and the config: far below the first push
    expect(p2.blobs.uploadedBytes).toBeLessThan(p1.blobs.uploadedBytes / 10);
    const pulled = runJson<Pulled>(h, ['pull', remote]);
    expect(pulled.doc).toMatchObject({ id: id2, newObjects: 1 });
    // the changed object by a range, and the indexes of the packs (48 bytes per object), not the 400 KiB of packs
    expect(pulled.doc.downloadedBytes).toBeLessThan(16 * 1024);
    expect(run(h, ['verify', id2, '--read-data']).code).toBe(0);
  });

  it('a host follows a tag with rollback --from: the second run does nothing', () => {
    const ws = sampleWorkspace();
    runJson(ws, ['create']);
    const remote = `oci://${reg.host}/snapgov/follow:prod`;
    expect(run(ws, ['push', remote]).code).toBe(0);
    const h = host();
    const first = runJson<{ to: string; unchanged?: boolean }>(h, ['rollback', '--from', remote, '--yes']);
    expect(first.code, first.stderr).toBe(0);
    expect(existsSync(join(h, 'artifacts/rules/a.yaml'))).toBe(true);
    const lines = auditActions(h).length;
    const second = runJson<{ unchanged?: boolean }>(h, ['rollback', '--from', remote, '--yes']);
    expect(second.code).toBe(0);
    expect(second.doc.unchanged).toBe(true);
    expect(auditActions(h)).toHaveLength(lines);
  });

  it('carries signatures as referrers, and a required trust policy stops an unsigned pull before any object', () => {
    const ws = sampleWorkspace();
    const keys = tempDir();
    expect(run(keys, ['keygen', '--sigstore', '-o', join(keys, 'ci')]).code).toBe(0);
    const id = runJson<{ id: string }>(ws, ['create']).doc.id;
    const remote = `oci://${reg.host}/snapgov/signed:prod`;
    expect(run(ws, ['push', remote]).code).toBe(0);
    const h = host();
    const cfg = readJsonFile<Record<string, unknown>>(join(h, 'snapgov.json'));
    writeFileSync(join(h, 'snapgov.json'), JSON.stringify({ ...cfg, trust: { required: true, sigstoreKeys: [join(keys, 'ci.pub')] } }));
    const refused = runJson(h, ['pull', remote]);
    expect(refused.code).toBe(1);
    expect(refused.error).toMatchObject({ code: 'TARGET_UNTRUSTED', hint: expect.stringContaining('nothing was downloaded') });
    expect(listFiles(join(h, 'snapshots/tmp'))).toEqual([]);
    expect(readdirSync(join(h, 'metadata')).filter((n) => /^[0-9a-f]{64}\.json$/.test(n))).toEqual([]);
    // signed after the push: pushing again adds only the signature
    expect(run(ws, ['sign', id, '--sigstore-key', join(keys, 'ci.key')]).code).toBe(0);
    const again = runJson<Pushed>(ws, ['push', remote]).doc.pushes[0]!;
    expect(again.signatures).toEqual({ pushed: 1, present: 0 });
    expect(again.blobs.uploaded).toBe(0);
    expect(runJson<Pushed>(ws, ['push', remote]).doc.pushes[0]!.signatures).toEqual({ pushed: 0, present: 1 });
    const ok = runJson<Pulled>(h, ['pull', remote]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.doc.signatures).toMatchObject([{ valid: true, trusted: true }]);
    expect(run(h, ['verify', id, '--require-signature']).code).toBe(0);
    const list = runJson<{ snapshots: { id: string; tags: string[]; signatures: number }[] }>(h, ['remote', 'list', `oci://${reg.host}/snapgov/signed`]);
    expect(list.code).toBe(0);
    expect(list.doc.snapshots).toMatchObject([{ id, tags: ['prod', `snap-${id.slice(7)}`], signatures: 1 }]);
  });

  it('two signers pushing their signatures at once both end up as referrers', async () => {
    const ws = sampleWorkspace();
    const keys = tempDir();
    for (const k of ['a', 'b']) expect(run(keys, ['keygen', '--sigstore', '-o', join(keys, k)]).code).toBe(0);
    const id = runJson<{ id: string }>(ws, ['create']).doc.id;
    const remote = `oci://${reg.host}/snapgov/race:prod`;
    expect(run(ws, ['push', remote]).code).toBe(0);
    // two stores holding the same snapshot, each signed by another key, pushing at the same moment
    const other = tempDir();
    cpSync(ws, other, { recursive: true, verbatimSymlinks: true });
    expect(run(ws, ['sign', id, '--sigstore-key', join(keys, 'a.key')]).code).toBe(0);
    expect(run(other, ['sign', id, '--sigstore-key', join(keys, 'b.key')]).code).toBe(0);
    const [ra, rb] = await Promise.all([runAsync(ws, ['push', remote]), runAsync(other, ['push', remote])]);
    expect(ra.code, ra.stderr).toBe(0);
    expect(rb.code, rb.stderr).toBe(0);
    const h = host();
    const pulled = runJson<Pulled>(h, ['pull', remote, '--key', join(keys, 'a.pub'), '--key', join(keys, 'b.pub')]);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.doc.signatures.filter((x) => x.trusted)).toHaveLength(2);
  });

  it('names what is wrong: a missing tag, a host that is no registry, an artifact that is not a snapshot', async () => {
    const h = host();
    const missing = runJson(h, ['pull', `oci://${reg.host}/snapgov/nothing:here`]);
    expect(missing.code).toBe(2);
    expect(missing.error?.code).toBe('REMOTE_NOT_FOUND');
    const down = runJson(h, ['pull', 'oci://127.0.0.1:9/snapgov/x:y'], { SNAPGOV_TEST_RETRY_SCALE: '0.01' });
    expect(down.code).toBe(1);
    expect(down.error?.code).toBe('REMOTE_UNREACHABLE');
    expect(runJson(h, ['pull', 'https://example.com/x']).error?.code).toBe('USAGE');
    // someone else's artifact under a tag
    const empty = Buffer.from('{}');
    const post = await fetch(`${reg.url}/v2/snapgov/other/blobs/uploads/`, { method: 'POST' });
    await fetch(`${new URL(post.headers.get('location')!, reg.url).href}&digest=sha256:${sha(empty)}`, { method: 'PUT', body: empty });
    const foreign = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/vnd.example.thing', config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: `sha256:${sha(empty)}`, size: 2 }, layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: `sha256:${sha(empty)}`, size: 2 }] });
    expect((await fetch(`${reg.url}/v2/snapgov/other/manifests/v1`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: foreign })).status).toBe(201);
    const notOurs = runJson(h, ['pull', `oci://${reg.host}/snapgov/other:v1`]);
    expect(notOurs.code).toBe(1);
    expect(notOurs.error).toMatchObject({ code: 'REMOTE_INVALID', message: expect.stringContaining('application/vnd.example.thing') });
    expect(readdirSync(join(h, 'metadata')).filter((n) => /^[0-9a-f]{64}\.json$/.test(n))).toEqual([]);
  });

  it('a pull after the registry collected its garbage still works', async () => {
    const ws = sampleWorkspace();
    const id = runJson<{ id: string }>(ws, ['create']).doc.id;
    const remote = `oci://${reg.host}/snapgov/gc:prod`;
    expect(run(ws, ['push', remote]).code).toBe(0);
    await reg.collectGarbage();
    const h = host();
    const r = runJson<Pulled>(h, ['pull', remote]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.doc.id).toBe(id);
    expect(run(h, ['verify', id, '--read-data']).code).toBe(0);
  }, 60_000);
});

describe('a registry over TLS with its own CA', () => {
  let tls: Registry;
  beforeAll(async () => {
    tls = await startRegistry({ tls: true });
  }, 30_000);
  afterAll(async () => tls?.stop());

  it('pushes and pulls through a named remote with caFile; without the CA the certificate is refused', () => {
    const ws = sampleWorkspace();
    const id = runJson<{ id: string }>(ws, ['create']).doc.id;
    const cfg = readJsonFile<Record<string, unknown>>(join(ws, 'snapgov.json'));
    writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, remotes: { secure: { url: `oci://${tls.host}/snapgov/tls`, caFile: tls.ca, plainHttp: false }, noca: { url: `oci://${tls.host}/snapgov/tls`, plainHttp: false } } }));
    const p = runJson<Pushed>(ws, ['push', 'secure:prod']);
    expect(p.code, p.stderr).toBe(0);
    expect(p.doc.pushes[0]!.id).toBe(id);
    const refused = runJson(ws, ['pull', 'noca:prod'], { SNAPGOV_TEST_RETRY_SCALE: '0.01' });
    expect(refused.code).toBe(1);
    expect(refused.error?.code).toBe('REMOTE_UNREACHABLE');
    const h = host();
    const hc = readJsonFile<Record<string, unknown>>(join(h, 'snapgov.json'));
    writeFileSync(join(h, 'snapgov.json'), JSON.stringify({ ...hc, remotes: { secure: { url: `oci://${tls.host}/snapgov/tls`, caFile: tls.ca, plainHttp: false } } }));
    const pulled = runJson<Pulled>(h, ['pull', 'secure:prod']);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.doc.id).toBe(id);
  });
});
