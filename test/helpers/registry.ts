// A real registry for the tests: Debian's docker-registry (Distribution), on 127.0.0.1 on a free
// port with a temporary config and storage, stopped by its PID.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

export async function startRegistry(o: { tls?: boolean } = {}): Promise<Registry> {
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
  writeFileSync(config, ['version: 0.1', 'log: {level: error}', `storage: {filesystem: {rootdirectory: ${join(dir, 'data')}}, delete: {enabled: true}}`, `http: {addr: "${host}", secret: snapgov-test${tls}}`, ''].join('\n'));
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
