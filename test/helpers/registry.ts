// A real registry for the tests: Debian's docker-registry (Distribution), on 127.0.0.1 on a free
// port with a temporary config and storage, stopped by its PID.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createPrivateKey, randomUUID, sign, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './cli.js';

export interface Registry {
  url: string;
  /** With TLS: the self-signed certificate (its own CA). */
  ca: string | null;
  host: string;
  dir: string;
  config: string;
  stop(): Promise<void>;
  /** Stops the registry, runs its garbage collection, and starts it again on the same port. */
  collectGarbage(): Promise<void>;
}

export const HAVE_REGISTRY = spawnSync('sh', ['-c', 'command -v docker-registry']).status === 0;
export const HAVE_SKOPEO = spawnSync('sh', ['-c', 'command -v skopeo']).status === 0;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitUp(host: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}`);
    // Listening is enough (a TLS registry is not reachable with fetch without its CA).
    const [h, p] = host.split(':');
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(Number(p), h!, () => {
        s.end();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('docker-registry did not start within 10 s');
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** The user the Basic and token registries know (test/fixtures/registry/htpasswd, bcrypt). */
export const REGISTRY_USER = { username: 'ci', password: 'snapgov-test-password' };

/**
 * A token service as Distribution's `auth.token` expects: ES256 JWTs with the signing certificate in
 * `x5c`. Push is granted to the Basic-authenticated user only; anyone gets pull. Runs in the test
 * process: drive the CLI with runAsync while it serves.
 */
async function startTokenServer(dir: string): Promise<{ realm: string; cert: string; close: () => Promise<void> }> {
  const cert = join(dir, 'token-cert.pem');
  const keyFile = join(dir, 'token-key.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=snapgov-test-issuer', '-keyout', keyFile, '-out', cert], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  const key = createPrivateKey(readFileSync(keyFile));
  const der = new X509Certificate(readFileSync(cert)).raw.toString('base64');
  const b64 = (x: unknown) => Buffer.from(JSON.stringify(x)).toString('base64url');
  const server = createHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const basic = req.headers.authorization?.startsWith('Basic ') ? Buffer.from(req.headers.authorization.slice(6), 'base64').toString() : null;
    if (basic !== null && basic !== `${REGISTRY_USER.username}:${REGISTRY_USER.password}`) {
      res.writeHead(401).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    const access = url.searchParams.getAll('scope').map((sc) => {
      const [type, name, actions] = sc.split(':');
      return { type, name, actions: (actions ?? '').split(',').filter((a) => basic !== null || a === 'pull') };
    });
    const now = Math.floor(Date.now() / 1000);
    const head = b64({ alg: 'ES256', typ: 'JWT', x5c: [der] });
    const claims = b64({ iss: 'snapgov-test-issuer', sub: basic ? REGISTRY_USER.username : '', aud: url.searchParams.get('service'), exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access });
    const sig = sign('sha256', Buffer.from(`${head}.${claims}`), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `${head}.${claims}.${sig}`, expires_in: 300 }));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as { port: number }).port;
  return { realm: `http://127.0.0.1:${port}/token`, cert, close: () => new Promise((ok) => server.close(() => ok())) };
}

export async function startRegistry(o: { tls?: boolean; auth?: 'basic' | 'token' } = {}): Promise<Registry> {
  const dir = mkdtempSync(join(tmpdir(), 'snapgov-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config = join(dir, 'config.yml');
  let tls = '';
  let ca: string | null = null;
  if (o.tls) {
    ca = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', ca], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
    tls = `, tls: {certificate: ${ca}, key: ${key}}`;
  }
  let auth = '';
  let token: Awaited<ReturnType<typeof startTokenServer>> | null = null;
  if (o.auth === 'basic') auth = `auth: {htpasswd: {realm: snapgov-test, path: ${join(REPO, 'test/fixtures/registry/htpasswd')}}}`;
  if (o.auth === 'token') {
    token = await startTokenServer(dir);
    auth = `auth: {token: {realm: "${token.realm}", service: snapgov-test-registry, issuer: snapgov-test-issuer, rootcertbundle: ${token.cert}}}`;
  }
  writeFileSync(config, ['version: 0.1', 'log: {level: error}', `storage: {filesystem: {rootdirectory: ${join(dir, 'data')}}, delete: {enabled: true}}`, `http: {addr: "${host}", secret: snapgov-test${tls}}`, auth, ''].join('\n'));
  let child: ChildProcess;
  const start = async () => {
    child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.resume();
    await waitUp(host, child);
  };
  await start();
  return {
    url: `${o.tls ? 'https' : 'http'}://${host}`,
    ca,
    host,
    dir,
    config,
    stop: async () => {
      await stopChild(child);
      await token?.close();
      rmSync(dir, { recursive: true, force: true });
    },
    collectGarbage: async () => {
      await stopChild(child);
      const gc = spawnSync('docker-registry', ['garbage-collect', config], { encoding: 'utf8' });
      if (gc.status !== 0) throw new Error(`garbage-collect failed: ${gc.stderr}`);
      await start();
    },
  };
}
