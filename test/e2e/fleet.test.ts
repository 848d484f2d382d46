// Push and pull through a real registry (Debian's docker-registry on 127.0.0.1), with skopeo as an
// independent client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { BIN, listFiles, readJsonFile, run, runAsync, runJson, sampleWorkspace, tempDir } from '../helpers/cli.js';
import { startFakeRegistry, type Misbehave } from '../helpers/fake-registry.js';
import { HAVE_REGISTRY, HAVE_SKOPEO, REGISTRY_USER, startRegistry, type Registry } from '../helpers/registry.js';

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
/** Puts changed bytes in place of a blob of a skopeo dir: layout, and names them in the manifest. */
function replaceBlob(dir: string, m: { layers: { digest: string; size: number }[] }, layer: { digest: string; size: number }, bytes: Buffer): void {
  rmSync(join(dir, layer.digest.slice(7)));
  const hex = sha(bytes);
  writeFileSync(join(dir, hex), bytes);
  const l = m.layers.find((x) => x.digest === layer.digest)!;
  l.digest = `sha256:${hex}`;
  l.size = bytes.length;
}
/** An empty workspace with a store: a fleet host before its first pull. */
function host(): string {
  const ws = tempDir();
  expect(run(ws, ['init', '--no-index']).code).toBe(0);
  return ws;
}
/** A tree of many small files and one large one, so a snapshot has packs and an object blob. */
function bigWorkspace(): string {
  // model.bin travels as a blob of its own; texture.bin (2 MiB) inside a pack, though it is stored loose locally
  const files: Record<string, string | Buffer> = { 'model.bin': Buffer.alloc(5 << 20, 3), 'texture.bin': Buffer.alloc(2 << 20, 4) };
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
    // the packs kept as pulled (one holding the 2 MiB object) are ordinary local packs to gc and verify
    const gc = runJson<{ objectsDeleted: number }>(h, ['gc']);
    expect(gc.code, gc.stderr).toBe(0);
    expect(gc.doc.objectsDeleted).toBe(0);
    expect(run(h, ['verify', '--all', '--read-data']).code).toBe(0);
    expect(runJson<Pulled>(h, ['pull', remote]).doc.pulled).toBe(false);
  });

  it('moves little after a small change: the push reuses the packs, the pull fetches ranges', () => {
    const ws = bigWorkspace();
    const remote = `oci://${reg.host}/snapgov/inc:prod`;
    runJson(ws, ['create']);
    const p1 = runJson<Pushed>(ws, ['push', remote]).doc.pushes[0]!;
    const h = host();
    const full = runJson<Pulled>(h, ['pull', remote]).doc;
    // everything pushed (packs and the model downloaded at once), and the pack indexes read first
    expect(full.downloadedBytes).toBeGreaterThanOrEqual(p1.blobs.uploadedBytes);
    writeFileSync(join(ws, 'artifacts/rules/r3.yaml'), 'rule: changed\n');
    const id2 = runJson<{ id: string }>(ws, ['create']).doc.id;
    const p2 = runJson<Pushed>(ws, ['push', remote]).doc.pushes[0]!;
    expect(p2.packs.reused).toBeGreaterThanOrEqual(1);
    // the changed file, the new pack that holds it, the manifest and the config: far below the first push
    expect(p2.blobs.uploadedBytes).toBeLessThan(p1.blobs.uploadedBytes / 10);
    const pulled = runJson<Pulled>(h, ['pull', remote]);
    expect(pulled.doc).toMatchObject({ id: id2, newObjects: 1 });
    // the host holds the previous snapshot: its manifest is rebuilt from the changes, not read whole
    expect(pulled.doc.downloadedBytes).toBeLessThan(readFileSync(join(ws, 'snapshots/manifests', `${id2.slice(7)}.json`)).length);
    // the manifest, the config, the packs' indexes (48 bytes per object) and the changed object by a range: not the packs
    expect(pulled.doc.downloadedBytes).toBeLessThan(full.downloadedBytes / 10);
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

  it('a promotion moves the environment tag on the environment remote; a registry that is down leaves the pin moved and says so', () => {
    const ws = sampleWorkspace();
    const keys = tempDir();
    expect(run(keys, ['keygen', '--sigstore', '-o', join(keys, 'ci')]).code).toBe(0);
    const cfg = readJsonFile<Record<string, unknown>>(join(ws, 'snapgov.json'));
    writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, principals: { ci: { sigstoreKeys: [join(keys, 'ci.pub')] } }, remotes: { origin: { url: `oci://${reg.host}/snapgov/promoted` }, down: { url: 'oci://127.0.0.1:9/snapgov/x' } }, environments: { staging: { remote: 'origin' }, qa: { remote: 'down' } } }));
    const id = runJson<{ id: string }>(ws, ['create']).doc.id;
    const p = runJson<{ decision: string; seq: number; remoteTag: { remote: string; digest: string; error: string | null } }>(ws, ['promote', id, '--env', 'staging', '--sigstore-key', join(keys, 'ci.key')]);
    expect(p.code, p.stderr).toBe(0);
    expect(p.doc).toMatchObject({ decision: 'allow', seq: 1, remoteTag: { remote: 'origin:staging', error: null } });
    const list = runJson<{ snapshots: { id: string; tags: string[] }[] }>(ws, ['remote', 'list', 'origin']);
    expect(list.doc.snapshots).toMatchObject([{ id, tags: [`snap-${id.slice(7)}`, 'staging'] }]);
    const down = runJson<{ decision: string; seq: number; remoteTag: { error: string } }>(ws, ['promote', id, '--env', 'qa', '--sigstore-key', join(keys, 'ci.key')], { SNAPGOV_TEST_RETRY_SCALE: '0.01' });
    expect(down.code).toBe(1);
    expect(down.doc).toMatchObject({ decision: 'allow', seq: 1, remoteTag: { error: expect.stringContaining('cannot reach') } });
    expect(runJson<{ environments: { name: string; seq: number | null }[] }>(ws, ['env', 'list']).doc.environments.find((e) => e.name === 'qa')!.seq).toBe(1);
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
    expect(runJson(h, ['push', `oci://${reg.host}/snapgov/x:snap-1`]).error?.message).toContain("snapgov's own");
    const creds = runJson(h, ['pull', `oci://ci:hunter2@${reg.host}/snapgov/x:y`]);
    expect(creds.error?.code).toBe('USAGE');
    expect(creds.stderr).not.toContain('hunter2');
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

  it.each<[string, (dir: string, m: { layers: { mediaType: string; digest: string; size: number }[] }) => void, string]>([
    ['an object whose bytes are not its hash', (dir, m) => {
      const pack = m.layers.find((l) => l.mediaType === 'application/vnd.snapgov.pack.v1')!;
      const b = readFileSync(join(dir, pack.digest.slice(7)));
      b[0] ^= 0xff; // the first object's first byte; the index still says its old hash
      replaceBlob(dir, m, pack, b);
    }, 'other bytes than its hash'],
    ['a pack index that points outside its blob', (dir, m) => {
      const pack = m.layers.find((l) => l.mediaType === 'application/vnd.snapgov.pack.v1')!;
      const b = readFileSync(join(dir, pack.digest.slice(7)));
      const count = Number(b.readBigUInt64BE(b.length - 16));
      b.writeBigUInt64BE(BigInt(b.length * 2), b.length - 16 - count * 48 + 32); // the first record's offset
      replaceBlob(dir, m, pack, b);
    }, 'points outside it'],
    ['a snapgov manifest with an unsafe path', (dir, m) => {
      const layer = m.layers[0]!;
      const b = Buffer.from(readFileSync(join(dir, layer.digest.slice(7)), 'utf8').replace('"path":"artifacts/index.json"', '"path":"../escape.json"'));
      replaceBlob(dir, m, layer, b);
    }, 'not a valid snapgov manifest'],
  ])('refuses an artifact copied in by skopeo with %s, and writes nothing', (_n, mutate, message) => {
    const ws = sampleWorkspace(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`artifacts/f${i}.txt`, `file ${i}\n`])));
    runJson(ws, ['create']);
    const src = `oci://${reg.host}/snapgov/hostile-src:v1`;
    expect(run(ws, ['push', src]).code).toBe(0);
    const dir = join(tempDir(), 'layout');
    const out = spawnSync('skopeo', ['copy', '--src-tls-verify=false', `docker://${reg.host}/snapgov/hostile-src:v1`, `dir:${dir}`], { encoding: 'utf8' });
    expect(out.status, out.stderr).toBe(0);
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { layers: { mediaType: string; digest: string; size: number }[] };
    mutate(dir, m);
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
    const repo = `snapgov/hostile-${sha(Buffer.from(message)).slice(0, 8)}`;
    const back = spawnSync('skopeo', ['copy', '--preserve-digests', '--dest-tls-verify=false', `dir:${dir}`, `docker://${reg.host}/${repo}:v1`], { encoding: 'utf8' });
    expect(back.status, back.stderr).toBe(0);
    const h = host();
    const r = runJson(h, ['pull', `oci://${reg.host}/${repo}:v1`]);
    expect(r.code).toBe(1);
    expect(r.error?.code).toBe('REMOTE_INVALID');
    expect(r.error?.message).toContain(message);
    expect(readdirSync(join(h, 'metadata')).filter((n) => /^[0-9a-f]{64}\.json$/.test(n))).toEqual([]);
    expect(listFiles(join(h, 'snapshots/tmp'))).toEqual([]);
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

describe('registries that ask for credentials', () => {
  let basic: Registry;
  let token: Registry;
  beforeAll(async () => {
    [basic, token] = await Promise.all([startRegistry({ auth: 'basic' }), startRegistry({ auth: 'token' })]);
  }, 30_000);
  afterAll(async () => Promise.all([basic?.stop(), token?.stop()]));
  const creds = { SNAPGOV_REGISTRY_USERNAME: REGISTRY_USER.username, SNAPGOV_REGISTRY_PASSWORD: REGISTRY_USER.password };

  it('Basic: refuses missing and wrong credentials with exit 12, takes them from the environment, stdin or docker config.json, and never shows them', () => {
    const ws = sampleWorkspace();
    const id = runJson<{ id: string }>(ws, ['create']).doc.id;
    const remote = `oci://${basic.host}/snapgov/basic:prod`;
    const none = runJson(ws, ['push', remote], { HOME: tempDir(), DOCKER_CONFIG: tempDir() });
    expect(none.code).toBe(12);
    expect(none.error?.code).toBe('REMOTE_AUTH');
    // a bearer token is no answer to a Basic challenge: the registry wants a user name and password
    const tokenOnly = runJson(ws, ['push', remote], { HOME: tempDir(), DOCKER_CONFIG: tempDir(), SNAPGOV_REGISTRY_TOKEN: 'some-token' });
    expect(tokenOnly.code).toBe(12);
    expect(tokenOnly.error?.message).toContain('asks for a user name and password');
    const wrong = runJson(ws, ['push', remote], { ...creds, SNAPGOV_REGISTRY_PASSWORD: 'not-it' });
    expect(wrong.code).toBe(12);
    expect(wrong.stderr).not.toContain('not-it');
    const ok = runJson<Pushed>(ws, ['push', remote], creds);
    expect(ok.code, ok.stderr).toBe(0);
    const stdin = spawnSync(process.execPath, [BIN, '--json', 'push', remote, '--password-stdin'], { cwd: ws, input: `${REGISTRY_USER.password}\n`, encoding: 'utf8', env: { ...process.env, SNAPGOV_REGISTRY_USERNAME: REGISTRY_USER.username } });
    expect(stdin.status, stdin.stderr).toBe(0);
    const docker = tempDir();
    writeFileSync(join(docker, 'config.json'), JSON.stringify({ auths: { [basic.host]: { auth: Buffer.from(`${REGISTRY_USER.username}:${REGISTRY_USER.password}`).toString('base64') } } }));
    const h = host();
    const pulled = runJson<Pulled>(h, ['pull', remote], { DOCKER_CONFIG: docker });
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.doc.id).toBe(id);
    for (const f of [join(ws, 'metadata/audit.log'), join(h, 'metadata/audit.log')]) expect(readFileSync(f, 'utf8')).not.toContain(REGISTRY_USER.password);
    expect(ok.stdout + ok.stderr + stdin.stdout + stdin.stderr).not.toContain(REGISTRY_USER.password);
  });

  it('Bearer tokens: pushes with credentials, pulls anonymously, and an anonymous push is refused', async () => {
    const ws = sampleWorkspace();
    const id = runJson<{ id: string }>(ws, ['create']).doc.id;
    const remote = `oci://${token.host}/snapgov/token:prod`;
    const anonymousPush = await runAsync(ws, ['--json', 'push', remote], { HOME: tempDir(), DOCKER_CONFIG: tempDir() });
    expect(anonymousPush.code).toBe(12);
    expect(anonymousPush.stderr).toContain('REMOTE_AUTH');
    const pushed = await runAsync(ws, ['--json', 'push', remote], creds);
    expect(pushed.code, pushed.stderr).toBe(0);
    const h = host();
    const pulled = await runAsync(h, ['--json', 'pull', remote], { HOME: tempDir(), DOCKER_CONFIG: tempDir() });
    expect(pulled.code, pulled.stderr).toBe(0);
    expect((JSON.parse(pulled.stdout) as Pulled).id).toBe(id);
  });
});

describe('what Distribution cannot show (a fake registry)', () => {
  /** A signed snapshot pushed to a fake registry, and a host to pull it into. */
  async function world(o: Parameters<typeof startFakeRegistry>[0] = {}, env: Record<string, string> = {}) {
    const fake = await startFakeRegistry(o);
    const ws = sampleWorkspace();
    const keys = tempDir();
    expect(run(keys, ['keygen', '--sigstore', '-o', join(keys, 'k')]).code).toBe(0);
    const id = runJson<{ id: string }>(ws, ['create']).doc.id;
    expect(run(ws, ['sign', id, '--sigstore-key', join(keys, 'k.key')]).code).toBe(0);
    const remote = `oci://${fake.host}/snapgov/fake:prod`;
    const p = await runAsync(ws, ['--json', 'push', remote], env);
    expect(p.code, p.stderr).toBe(0);
    return { fake, ws, id, remote, pub: join(keys, 'k.pub'), h: host() };
  }
  const errorOf = (r: { stderr: string }) => (JSON.parse(r.stderr.trim().split('\n').pop()!) as { error: { code: string; message: string } }).error;

  it('uses the referrers API where the registry has one: no referrers tag, the signature found through it', async () => {
    const { fake, id, remote, pub, h } = await world({ referrersApi: true });
    try {
      expect(fake.log.some((l) => l.method === 'PUT' && /manifests\/sha256-/.test(l.path))).toBe(false);
      const r = await runAsync(h, ['--json', 'pull', remote, '--require-signature', '--key', pub]);
      expect(r.code, r.stderr).toBe(0);
      expect((JSON.parse(r.stdout) as Pulled).id).toBe(id);
      expect(fake.log.some((l) => /\/referrers\//.test(l.path))).toBe(true);
    } finally {
      await fake.close();
    }
  });

  it('waits as long as a 429 Retry-After asks, then goes on', async () => {
    const { fake, remote, h } = await world();
    try {
      let refused = 0;
      fake.misbehave = (_req, res, path) => {
        if (path !== '/v2/' || refused++ > 0) return false;
        res.writeHead(429, { 'retry-after': '1' }).end('{"errors":[{"code":"TOOMANYREQUESTS"}]}');
        return true;
      };
      const r = await runAsync(h, ['--json', 'pull', remote]);
      expect(r.code, r.stderr).toBe(0);
      const pings = fake.log.filter((l) => l.path === '/v2/').slice(-2);
      expect(pings[1]!.at - pings[0]!.at).toBeGreaterThanOrEqual(950);
    } finally {
      await fake.close();
    }
  });

  it('follows a blob redirect to another host without sending it the credentials', async () => {
    const creds = { SNAPGOV_REGISTRY_USERNAME: 'ci', SNAPGOV_REGISTRY_PASSWORD: 'pw' };
    const { fake, id, remote, h } = await world({ basicAuth: 'ci:pw' }, creds);
    const seen: (string | undefined)[] = [];
    const cdn = createServer((req, res) => {
      seen.push(req.headers.authorization);
      const data = fake.blobs.get(req.url!.slice(1))!;
      const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
      if (range) res.writeHead(206, { 'content-range': `bytes ${range[1]}-${range[2]}/${data.length}` }).end(data.subarray(Number(range[1]), Number(range[2]) + 1));
      else res.writeHead(200).end(data);
    });
    await new Promise<void>((ok) => cdn.listen(0, '127.0.0.1', ok));
    try {
      const cdnHost = `127.0.0.1:${(cdn.address() as { port: number }).port}`;
      fake.misbehave = (req, res, path) => {
        const m = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(path);
        if (!m || req.method !== 'GET') return false;
        res.writeHead(307, { location: `http://${cdnHost}/${m[1]}` }).end();
        return true;
      };
      const r = await runAsync(h, ['--json', 'pull', remote], creds);
      expect(r.code, r.stderr).toBe(0);
      expect((JSON.parse(r.stdout) as Pulled).id).toBe(id);
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.every((a) => a === undefined)).toBe(true);
      expect(fake.log.some((l) => l.authorization?.startsWith('Basic '))).toBe(true);
    } finally {
      cdn.closeAllConnections();
      cdn.close();
      await fake.close();
    }
  });

  it('a pull cut in the middle of a large object goes on from where it stopped', async () => {
    const fake = await startFakeRegistry();
    try {
      const ws = sampleWorkspace({ 'model.bin': Buffer.alloc(6 << 20, 9) });
      const id = runJson<{ id: string }>(ws, ['create']).doc.id;
      const remote = `oci://${fake.host}/snapgov/resume:prod`;
      expect((await runAsync(ws, ['--json', 'push', remote])).code).toBe(0);
      const model = `sha256:${sha(Buffer.alloc(6 << 20, 9))}`;
      let cut = false;
      fake.misbehave = (req, res, path) => {
        if (cut || req.method !== 'GET' || !path.endsWith(`/blobs/${model}`)) return false;
        cut = true;
        res.writeHead(200, { 'content-length': 6 << 20 });
        res.write(Buffer.alloc(1 << 20, 9), () => setTimeout(() => res.destroy(), 50));
        return true;
      };
      const h = host();
      const first = await runAsync(h, ['--json', 'pull', remote]);
      expect(first.code).toBe(1);
      expect(errorOf(first).code).toBe('REMOTE_ERROR');
      expect(listFiles(join(h, 'snapshots/tmp'))).toEqual([`pull-${model.slice(7)}.part`]);
      const second = await runAsync(h, ['--json', 'pull', remote]);
      expect(second.code, second.stderr).toBe(0);
      const resumed = fake.log.filter((l) => l.path.endsWith(`/blobs/${model}`) && l.method === 'GET').at(-1)!;
      expect(resumed.range).toMatch(/^bytes=\d+-6291455$/);
      expect(Number(/^bytes=(\d+)/.exec(resumed.range!)![1])).toBeGreaterThan(0);
      expect((JSON.parse(second.stdout) as Pulled).downloadedBytes).toBeLessThan(6 << 20);
      expect(run(h, ['verify', id, '--read-data']).code).toBe(0);
      expect(listFiles(join(h, 'snapshots/tmp'))).toEqual([]);
    } finally {
      await fake.close();
    }
  });

  it('a damaged manifest delta is passed over for the whole manifest; a snapshot pushed again keeps its manifest', async () => {
    const fake = await startFakeRegistry();
    try {
      const ws = bigWorkspace();
      runJson(ws, ['create']);
      const remote = `oci://${fake.host}/snapgov/delta:prod`;
      expect((await runAsync(ws, ['--json', 'push', remote])).code).toBe(0);
      const h = host();
      expect((await runAsync(h, ['--json', 'pull', remote])).code).toBe(0);
      writeFileSync(join(ws, 'artifacts/rules/r3.yaml'), 'rule: changed\n');
      const id2 = runJson<{ id: string }>(ws, ['create']).doc.id;
      const pushed = JSON.parse((await runAsync(ws, ['--json', 'push', remote])).stdout) as Pushed;
      const oci = JSON.parse([...fake.manifests.values()].find((m) => m.bytes.toString().includes(id2) && m.bytes.toString().includes('manifest-delta'))!.bytes.toString()) as { layers: { mediaType: string; digest: string }[] };
      const delta = oci.layers.find((l) => l.mediaType === 'application/vnd.snapgov.manifest-delta.v1+json')!;
      fake.misbehave = (req, res, path) => {
        if (req.method !== 'GET' || !path.endsWith(`/blobs/${delta.digest}`)) return false;
        res.writeHead(200, { 'content-length': 2 }).end('{}');
        return true;
      };
      const pulled = await runAsync(h, ['--json', 'pull', remote]);
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(fake.log.some((l) => l.path.endsWith(`/blobs/${id2}`))).toBe(true);
      expect(run(h, ['verify', id2, '--read-data']).code).toBe(0);
      // pushed again to another tag (whose snapshot is another): the same manifest, nothing uploaded
      const again = JSON.parse((await runAsync(ws, ['--json', 'push', id2.slice(0, 19), `oci://${fake.host}/snapgov/delta:other`])).stdout) as Pushed;
      expect(again.pushes[0]).toMatchObject({ digest: pushed.pushes[0]!.digest, blobs: { uploaded: 0 } });
    } finally {
      await fake.close();
    }
  });

  it('a pull that finds a part-downloaded object starts it again where the registry ignores ranges', async () => {
    const fake = await startFakeRegistry();
    try {
      const ws = sampleWorkspace({ 'model.bin': Buffer.alloc(6 << 20, 9) });
      const id = runJson<{ id: string }>(ws, ['create']).doc.id;
      const remote = `oci://${fake.host}/snapgov/norange:prod`;
      expect((await runAsync(ws, ['--json', 'push', remote])).code).toBe(0);
      const model = `sha256:${sha(Buffer.alloc(6 << 20, 9))}`;
      const h = host();
      // what an earlier pull cut off left: the first MiB, and one byte that is wrong
      const part = Buffer.alloc(1 << 20, 9);
      part[100] = 1;
      mkdirSync(join(h, 'snapshots/tmp'), { recursive: true });
      writeFileSync(join(h, 'snapshots/tmp', `pull-${model.slice(7)}.part`), part);
      fake.misbehave = (req, res, path) => {
        if (req.method !== 'GET' || !path.endsWith(`/blobs/${model}`) || !req.headers.range) return false;
        res.writeHead(200, { 'content-length': 6 << 20 }).end(Buffer.alloc(6 << 20, 9));
        return true;
      };
      const pulled = await runAsync(h, ['--json', 'pull', remote]);
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(fake.log.filter((l) => l.path.endsWith(`/blobs/${model}`) && l.method === 'GET').map((l) => l.range)).toEqual(['bytes=1048576-6291455']);
      expect(run(h, ['verify', id, '--read-data']).code).toBe(0);
      expect(listFiles(join(h, 'snapshots/tmp'))).toEqual([]);
    } finally {
      await fake.close();
    }
  });

  it.each<[string, Misbehave, string, string]>([
    ['a manifest cut in the middle', (req, res, path) => {
      if (!/manifests\/prod$/.test(path) || req.method !== 'GET') return false;
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': 4000 });
      res.write('{"schemaVersion":2,');
      setTimeout(() => res.destroy(), 20);
      return true;
    }, 'REMOTE_ERROR', 'before the answer ended'],
    ['an endless manifest', (req, res, path) => {
      if (!/manifests\/prod$/.test(path) || req.method !== 'GET') return false;
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      const chunk = Buffer.alloc(64 << 10, 32);
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
      return true;
    }, 'REMOTE_INVALID', 'larger than the 4 MiB'],
    ['a redirect loop', (req, res, path) => {
      if (!/\/blobs\//.test(path) || req.method !== 'GET') return false;
      res.writeHead(307, { location: path }).end();
      return true;
    }, 'REMOTE_ERROR', 'too many redirects'],
    ['a manifest whose announced digest lies', (req, res, path) => {
      if (!/manifests\/prod$/.test(path) || req.method !== 'GET') return false;
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': `sha256:${'0'.repeat(64)}` }).end('{}');
      return true;
    }, 'REMOTE_INVALID', 'announces sha256:0000'],
    ['a blob whose bytes are not its digest', (req, res, path) => {
      if (!/\/blobs\/sha256:/.test(path) || req.method !== 'GET' || req.headers.range) return false;
      res.writeHead(200).end('not the config');
      return true;
    }, 'REMOTE_INVALID', 'do not match the digest|larger than'],
  ])('refuses %s, and writes nothing', async (_n, misbehave, code, message) => {
    const { fake, remote, h } = await world();
    try {
      fake.misbehave = misbehave;
      const r = await runAsync(h, ['--json', 'pull', remote]);
      expect(r.code, r.stderr).toBe(1);
      expect(errorOf(r).code, errorOf(r).message).toBe(code);
      expect(errorOf(r).message).toMatch(new RegExp(message));
      expect(readdirSync(join(h, 'metadata')).filter((n) => /^[0-9a-f]{64}\.json$/.test(n))).toEqual([]);
      expect(listFiles(join(h, 'snapshots/tmp'))).toEqual([]);
    } finally {
      await fake.close();
    }
  });
});
