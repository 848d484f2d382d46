import { describe, expect, it } from 'vitest';
import type { Workspace } from '../../src/config/config.js';
import { parseRemote } from '../../src/remote/reference.js';
import { parseChallenge, retryAfterMs } from '../../src/remote/registry.js';
import { findCredentials } from '../../src/remote/credentials.js';
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
  ])('refuses %s', (text, why) => {
    expect(() => parseRemote(text, ws)).toThrow(why);
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
