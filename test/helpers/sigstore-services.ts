import { createHash, generateKeyPairSync } from 'node:crypto';
import { createServer, type RequestListener } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo, Server } from 'node:net';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fulcioHandler, initializeCA, initializeCTLog, initializeTLog, rekorHandler, type HandlerFn } from '@sigstore/mock';

/**
 * Real HTTP servers on 127.0.0.1 serving @sigstore/mock's Fulcio and Rekor handlers, and a trusted
 * root made from the same keys: a keyless round trip with no network and no interceptors.
 * `caClock` backdates the certificates (an expired certificate is one issued an hour before the
 * log entry that proves the signing time). With `tls` they serve HTTPS with that key and certificate.
 */
export interface SigstoreServices {
  fulcioUrl: string;
  rekorUrl: string;
  trustedRoot: object;
  close: () => Promise<void>;
}

const keyPair = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const b64 = (b: ArrayBufferView | Buffer) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');

export interface TlsIdentity {
  key: string;
  cert: string;
}

/** An HTTP server whose routes are filled in later (the log records its own URL, known only once listening). */
function serve(tls?: TlsIdentity): Promise<{ server: Server; url: string; routes: Record<string, HandlerFn> }> {
  const routes: Record<string, HandlerFn> = {};
  const handler: RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const fn = routes[req.url ?? ''];
      if (!fn || req.method !== 'POST') return void res.writeHead(404).end();
      fn(Buffer.concat(chunks).toString()).then(
        (r) => {
          res.writeHead(r.statusCode, { 'content-type': r.contentType ?? 'application/json' });
          res.end(typeof r.response === 'string' ? r.response : Buffer.from(r.response.buffer, r.response.byteOffset, r.response.byteLength));
        },
        (e: Error) => res.writeHead(500).end(e.message),
      );
    });
  };
  const server = tls ? createTlsServer(tls, handler) : createServer(handler);
  const scheme = tls ? 'https' : 'http';
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`, routes })));
}

export async function startSigstore(opts: { caClock?: Date; tls?: TlsIdentity } = {}): Promise<SigstoreServices> {
  const ctlog = await initializeCTLog(keyPair());
  const ca = await initializeCA(keyPair(), ctlog, opts.caClock);
  const fulcio = await serve(opts.tls);
  const rekor = await serve(opts.tls);
  const tlog = await initializeTLog(rekor.url, keyPair());
  const f = fulcioHandler(ca, { strict: true });
  const r = rekorHandler(tlog, { strict: true });
  fulcio.routes[f.path] = f.fn;
  rekor.routes[r.path] = r.fn;
  // A little in the past: Rekor times have one-second resolution.
  const start = new Date((opts.caClock?.getTime() ?? Date.now()) - 60_000).toISOString();
  const trustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [{ baseUrl: rekor.url, hashAlgorithm: 'SHA2_256', publicKey: { rawBytes: b64(tlog.publicKey), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start } }, logId: { keyId: createHash('sha256').update(tlog.publicKey).digest('base64') } }],
    certificateAuthorities: [{ subject: { organization: 'sigstore.mock', commonName: 'sigstore' }, uri: fulcio.url, certChain: { certificates: [{ rawBytes: b64(ca.rootCertificate) }] }, validFor: { start } }],
    ctlogs: [{ baseUrl: 'https://ctfe.test', hashAlgorithm: 'SHA2_256', publicKey: { rawBytes: b64(ctlog.publicKey), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start } }, logId: { keyId: b64(ctlog.logID) } }],
    timestampAuthorities: [],
  };
  const close = () => Promise.all([fulcio.server, rekor.server].map((s) => new Promise<void>((res) => s.close(() => res())))).then(() => undefined);
  return { fulcioUrl: fulcio.url, rekorUrl: rekor.url, trustedRoot, close };
}

/** An unsigned OIDC token: the mock Fulcio only decodes it (the real one checks the issuer's signature). */
export function testToken(claims: { sub: string; iss: string }): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ ...claims, aud: 'sigstore', exp: Math.floor(Date.now() / 1000) + 600, iat: Math.floor(Date.now() / 1000) })}.`;
}

/** A self-signed certificate for 127.0.0.1 (OpenSSL's command line): the authority a NODE_EXTRA_CA_CERTS file would add. */
export function selfSignedIdentity(dir: string): TlsIdentity & { certFile: string } {
  const key = join(dir, 'tls-key.pem');
  const certFile = join(dir, 'tls-cert.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', certFile, '-days', '1', '-subj', '/CN=snapgov-test', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(certFile, 'utf8'), certFile };
}
