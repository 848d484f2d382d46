import { describe, expect, it } from 'vitest';
import type { Workspace } from '../../src/config/config.js';
import { parseRemote } from '../../src/remote/reference.js';
import { parseChallenge, retryAfterMs } from '../../src/remote/registry.js';
import { findCredentials } from '../../src/remote/credentials.js';
import { metadataFromConfig, parseSnapshotManifest } from '../../src/remote/format.js';
import { inParallel } from '../../src/util/parallel.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ws = { root: '/w', config: { remotes: { origin: { url: 'oci://ghcr.io/acme/artifacts', caFile: 'ca.pem', plainHttp: false } } } } as unknown as Workspace;

describe('remote references', () => {
  it.each<[string, Record<string, unknown>]>([
    ['oci://ghcr.io/acme/artifacts', { registry: 'ghcr.io', repository: 'acme/artifacts', tag: null, digest: null, plainHttp: false }],
    ['oci://127.0.0.1:5000/a/b:prod', { registry: '127.0.0.1:5000', port: 5000, repository: 'a/b', tag: 'prod', plainHttp: true }],
    ['oci://localhost/x@sha256:' + 'a'.repeat(64), { host: 'localhost', tag: null, digest: 'sha256:' + 'a'.repeat(64), plainHttp: true }],
    ['origin:staging', { registry: 'ghcr.io', repository: 'acme/artifacts', tag: 'staging', caFile: '/w/ca.pem' }],
    ['origin', { tag: null }],
  ])('reads %s', (text, want) => {
    expect(parseRemote(text, ws)).toMatchObject(want);
  });

  it.each<[string, string]>([
    ['https://ghcr.io/acme', 'it is not oci://'],
    ['oci://ghcr.io', 'names no repository'],
    ['oci://ghcr.io/Acme/x', 'is not a repository name'],
    ['oci://ghcr.io/a/b:' + 'x'.repeat(129), 'is not a tag'],
    ['oci://ghcr.io/a/b@sha256:short', 'is not a sha256 digest'],
    ['oci://bad host/a', 'white space'],
    ['oci://h:99999/a', 'is not a host name'],
    ['upstream', 'nor one of the configured remotes'],
    ['oci://ci:hunter2@ghcr.io/a/b', 'must not carry credentials'],
  ])('refuses %s', (text, why) => {
    expect(() => parseRemote(text, ws)).toThrow(why);
    // and never repeats a password it was given
    expect(() => parseRemote(text, ws)).not.toThrow('hunter2');
  });
});

describe('registry protocol details', () => {
  it.each<[string, { scheme: string; params: Record<string, string> } | null]>([
    ['Basic realm="snapgov-test"', { scheme: 'basic', params: { realm: 'snapgov-test' } }],
    ['Bearer realm="http://127.0.0.1:5058/token",service="reg",scope="repository:a/b:pull,push repository:c:pull"', { scheme: 'bearer', params: { realm: 'http://127.0.0.1:5058/token', service: 'reg', scope: 'repository:a/b:pull,push repository:c:pull' } }],
    ['Bearer realm="x",error="insufficient_scope"', { scheme: 'bearer', params: { realm: 'x', error: 'insufficient_scope' } }],
    ['', null],
  ])('parses the challenge %j', (header, want) => {
    expect(parseChallenge(header)).toEqual(want);
  });

  it.each<[string | undefined, number | null]>([
    ['2', 2000],
    ['0', 0],
    ['3600', 30_000],
    [new Date(1_000_000 + 5000).toUTCString(), 5000],
    ['soon', null],
    [undefined, null],
  ])('waits for Retry-After %j', (value, ms) => {
    const got = retryAfterMs(value, 1_000_000);
    if (ms === null) expect(got).toBeNull();
    else expect(got).toBeCloseTo(ms, -3);
  });

  it('finds credentials in order: environment, docker config by exact host, none', () => {
    const home = mkdtempSync(join(tmpdir(), 'snapgov-creds-'));
    writeFileSync(join(home, 'config.json'), JSON.stringify({ auths: { 'ghcr.io': { auth: Buffer.from('u:p:w').toString('base64') }, 'evil-ghcr.io.example': { auth: Buffer.from('x:y').toString('base64') } } }));
    const env = { HOME: home, DOCKER_CONFIG: home };
    expect(findCredentials('ghcr.io', { ...env, SNAPGOV_REGISTRY_USERNAME: 'ci', SNAPGOV_REGISTRY_PASSWORD: 's' }, null)).toMatchObject({ username: 'ci', password: 's' });
    expect(findCredentials('ghcr.io', env, null)).toMatchObject({ username: 'u', password: 'p:w' });
    expect(findCredentials('ghcr.io.example', env, null)).toBeNull();
    expect(findCredentials('ghcr.io', { ...env, SNAPGOV_REGISTRY_TOKEN: 't' }, null)).toMatchObject({ token: 't' });
  });
});

describe('the snapshot artifact', () => {
  const id = `sha256:${'a'.repeat(64)}`;
  const d = (mediaType: string, extra: Record<string, unknown> = {}) => ({ mediaType, digest: `sha256:${'b'.repeat(64)}`, size: 100_000, ...extra });
  const good = () => ({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: 'application/vnd.snapgov.snapshot.v1',
    config: d('application/vnd.snapgov.snapshot.config.v1+json'),
    layers: [{ ...d('application/vnd.snapgov.manifest.v1+json'), digest: id }, d('application/vnd.snapgov.pack.v1', { annotations: { 'dev.snapgov.pack.objects': '10' } }), d('application/vnd.snapgov.object.v1'), d('application/vnd.example.other')],
  });
  const bytes = (x: unknown) => Buffer.from(JSON.stringify(x));

  it('reads the ID, the packs and the objects, and ignores layer types it does not know', () => {
    const p = parseSnapshotManifest(bytes(good()), 'application/vnd.oci.image.manifest.v1+json');
    expect(p).toMatchObject({ id, packs: [{ objects: 10 }], objects: [{ mediaType: 'application/vnd.snapgov.object.v1' }] });
  });

  it.each<[string, (m: ReturnType<typeof good>) => unknown, string]>([
    ['another artifact type', (m) => ({ ...m, artifactType: 'application/vnd.example' }), 'artifact type'],
    ['an index', (m) => ({ ...m, mediaType: 'application/vnd.oci.image.index.v1+json' }), 'not an OCI image manifest'],
    ['another config type', (m) => ({ ...m, config: d('application/vnd.oci.empty.v1+json') }), 'config'],
    ['no snapgov manifest first', (m) => ({ ...m, layers: m.layers.slice(1) }), 'first layer'],
    ['a pack without its count', (m) => ({ ...m, layers: [m.layers[0], d('application/vnd.snapgov.pack.v1')] }), 'how many objects'],
    ['a pack claiming more objects than fit', (m) => ({ ...m, layers: [m.layers[0], d('application/vnd.snapgov.pack.v1', { annotations: { 'dev.snapgov.pack.objects': '1000000' } })] }), 'more than fit'],
    ['a descriptor with a bad digest', (m) => ({ ...m, layers: [{ ...m.layers[0], digest: 'md5:x' }] }), 'descriptors'],
    ['a negative size', (m) => ({ ...m, layers: [{ ...m.layers[0], size: -1 }] }), 'descriptors'],
  ])('refuses %s', (_n, change, why) => {
    expect(() => parseSnapshotManifest(bytes(change(good())), '')).toThrow(why);
  });

  it('refuses a config that is for another snapshot', () => {
    expect(() => metadataFromConfig(bytes({ format: 'snapgov-oci/1', id: `sha256:${'c'.repeat(64)}`, metadata: {}, objects: 0, bytes: 0 }), id)).toThrow('not a snapgov-oci/1 config of');
  });
});

describe('inParallel', () => {
  it('runs at most n at once, and after a failure starts nothing new but waits for what runs', async () => {
    let running = 0;
    let peak = 0;
    const ended: number[] = [];
    const work = async (i: number) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, i === 2 ? 5 : 20));
      running--;
      if (i === 2) throw new Error('two failed');
      ended.push(i);
    };
    await expect(inParallel([0, 1, 2, 3, 4, 5, 6, 7], 3, work)).rejects.toThrow('two failed');
    expect(peak).toBe(3);
    expect(running).toBe(0); // nothing was still running when it threw
    expect(ended.sort()).toEqual([0, 1]); // item 3 onwards never started
  });
});
