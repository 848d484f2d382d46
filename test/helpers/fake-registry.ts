// A small in-memory registry for what Distribution cannot show: the referrers API (with
// OCI-Subject), 429 with Retry-After, redirects to another host, and bodies that are cut, endless
// or not what their digest says. Only what snapgov's client uses is served. In-process: drive the
// CLI with runAsync while it serves.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export type Misbehave = (req: IncomingMessage, res: ServerResponse, path: string) => boolean;

export interface FakeRegistry {
  host: string;
  /** Every request, in order: method, path, the time it arrived, and its Authorization header. */
  log: { method: string; path: string; at: number; authorization: string | undefined; range: string | undefined }[];
  blobs: Map<string, Buffer>;
  manifests: Map<string, { bytes: Buffer; type: string }>;
  /** Return true to take over a request (after logging, before the normal answer). */
  misbehave: Misbehave | null;
  close(): Promise<void>;
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function startFakeRegistry(o: { referrersApi?: boolean; basicAuth?: string } = {}): Promise<FakeRegistry> {
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, { bytes: Buffer; type: string }>();
  const tags = new Map<string, string>();
  const uploads = new Map<string, Buffer>();
  const fake: FakeRegistry = { host: '', log: [], blobs, manifests, misbehave: null, close: async () => undefined };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const path = url.pathname;
      fake.log.push({ method: req.method ?? '', path, at: Date.now(), authorization: req.headers.authorization, range: req.headers.range });
      if (o.basicAuth && req.headers.authorization !== `Basic ${Buffer.from(o.basicAuth).toString('base64')}`) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"' }).end();
        return;
      }
      if (fake.misbehave?.(req, res, path)) return;
      if (path === '/v2/') return void res.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0' }).end('{}');
      let m = /^\/v2\/(.+)\/blobs\/uploads\/(.*)$/.exec(path);
      if (m && req.method === 'POST') {
        const id = String(uploads.size + 1);
        uploads.set(id, Buffer.alloc(0));
        return void res.writeHead(202, { location: `/v2/${m[1]}/blobs/uploads/${id}` }).end();
      }
      if (m && req.method === 'PUT') {
        const data = await body(req);
        const digest = url.searchParams.get('digest')!;
        if (sha(data) !== digest) return void res.writeHead(400).end('{"errors":[{"code":"DIGEST_INVALID"}]}');
        blobs.set(digest, data);
        return void res.writeHead(201, { 'docker-content-digest': digest }).end();
      }
      m = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/.exec(path);
      if (m) {
        const data = blobs.get(m[2]!);
        if (!data) return void res.writeHead(404).end();
        const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
        if (range) {
          const part = data.subarray(Number(range[1]), Number(range[2]) + 1);
          return void res.writeHead(206, { 'content-length': part.length, 'content-range': `bytes ${range[1]}-${range[2]}/${data.length}` }).end(req.method === 'HEAD' ? undefined : part);
        }
        return void res.writeHead(200, { 'content-length': data.length, 'docker-content-digest': m[2]! }).end(req.method === 'HEAD' ? undefined : data);
      }
      m = /^\/v2\/(.+)\/manifests\/(.+)$/.exec(path);
      if (m) {
        const ref = m[2]!;
        if (req.method === 'PUT') {
          const data = await body(req);
          const digest = sha(data);
          manifests.set(digest, { bytes: data, type: String(req.headers['content-type']) });
          if (!ref.startsWith('sha256:')) tags.set(ref, digest);
          const subject = (JSON.parse(data.toString()) as { subject?: { digest: string } }).subject;
          return void res.writeHead(201, { 'docker-content-digest': digest, ...(o.referrersApi && subject ? { 'oci-subject': subject.digest } : {}) }).end();
        }
        const got = manifests.get(ref.startsWith('sha256:') ? ref : (tags.get(ref) ?? ''));
        if (!got) return void res.writeHead(404).end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
        return void res.writeHead(200, { 'content-type': got.type, 'content-length': got.bytes.length, 'docker-content-digest': sha(got.bytes) }).end(req.method === 'HEAD' ? undefined : got.bytes);
      }
      m = /^\/v2\/(.+)\/referrers\/(sha256:[0-9a-f]{64})$/.exec(path);
      if (m && o.referrersApi) {
        const list = [...manifests.entries()].flatMap(([digest, v]) => {
          const doc = JSON.parse(v.bytes.toString()) as { subject?: { digest: string }; artifactType?: string; annotations?: Record<string, string> };
          return doc.subject?.digest === m![2] ? [{ mediaType: v.type, digest, size: v.bytes.length, artifactType: doc.artifactType, annotations: doc.annotations }] : [];
        });
        return void res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' }).end(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: list }));
      }
      m = /^\/v2\/(.+)\/tags\/list$/.exec(path);
      if (m) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name: m[1], tags: [...tags.keys()] }));
      res.writeHead(404).end('404 page not found');
    })();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  fake.host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  fake.close = () =>
    new Promise((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    });
  return fake;
}
