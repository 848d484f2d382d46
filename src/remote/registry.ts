// A client of the OCI distribution API, on node:http/https: per-registry CAs, bodies streamed and
// hashed as they pass, redirects followed by hand (Authorization never goes to another host),
// Basic and Bearer challenges, and retries with backoff on 429/5xx that honour Retry-After.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { SnapgovError } from '../errors.js';
import { findCredentials, type Credentials } from './credentials.js';
import type { RemoteRef } from './reference.js';

export const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
export const INDEX_TYPE = 'application/vnd.oci.image.index.v1+json';
/** The registries' own limit (Distribution refuses a byte more); snapgov refuses to read or write more. */
export const MAX_MANIFEST = 4 << 20;
const MAX_SMALL_BODY = 64 << 10;
const MAX_REDIRECTS = 5;
const MAX_ATTEMPTS = 5;
const IDLE_TIMEOUT_MS = 60_000;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** A request body: bytes, or a file opened anew for each attempt. */
export type Body = Buffer | { length: number; open: () => Readable };

interface Req {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE';
  /** A path under the registry, or an absolute URL (upload locations). */
  url: string;
  headers?: Record<string, string>;
  body?: Body;
  push?: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `scheme param="v", …` challenges (RFC 7235), enough for what registries send. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } | null {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header);
  if (!m) return null;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/g;
  for (let p = re.exec(m[2]!); p; p = re.exec(m[2]!)) params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  return { scheme: m[1]!.toLowerCase(), params };
}

/** The seconds a Retry-After asks for (seconds or an HTTP date), capped: a registry cannot park a cron job. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | null {
  if (!value) return null;
  const s = /^\d+$/.test(value.trim()) ? Number(value.trim()) * 1000 : Date.parse(value) - now;
  return Number.isFinite(s) ? Math.min(Math.max(0, s), 30_000) : null;
}

export class RegistryClient {
  private readonly agent: http.Agent;
  private readonly base: URL;
  private auth: { pull: string | null; push: string | null } = { pull: null, push: null };
  /** Retry-After waits and backoffs are shortened by tests (SNAPGOV_TEST_RETRY_SCALE), never skipped. */
  private readonly scale = Number(process.env.SNAPGOV_TEST_RETRY_SCALE ?? '1');

  constructor(
    readonly ref: RemoteRef,
    private readonly creds: Credentials | null,
  ) {
    const ca = ref.caFile ? [...rootCertificates, readCa(ref.caFile)] : undefined;
    this.base = new URL(`${ref.plainHttp ? 'http' : 'https'}://${ref.registry}`);
    this.agent = ref.plainHttp ? new http.Agent({ keepAlive: true, maxSockets: 8 }) : new https.Agent({ keepAlive: true, maxSockets: 8, ...(ca ? { ca } : {}) });
  }

  close(): void {
    this.agent.destroy();
  }

  private fail(code: 'REMOTE_UNREACHABLE' | 'REMOTE_AUTH' | 'REMOTE_NOT_FOUND' | 'REMOTE_INVALID' | 'REMOTE_ERROR', message: string, hint: string): SnapgovError {
    return new SnapgovError(code, `${this.ref.registry}/${this.ref.repository}: ${message}`, hint);
  }

  /** One exchange, without retries: the response with its body unread. */
  private once(url: URL, method: string, headers: Record<string, string>, body: Body | undefined): Promise<IncomingMessage> {
    return new Promise((resolveRes, reject) => {
      const mod = url.protocol === 'https:' ? https : http;
      const req = mod.request(url, { method, headers, agent: url.origin === this.base.origin ? this.agent : undefined, timeout: IDLE_TIMEOUT_MS });
      req.on('timeout', () => req.destroy(new Error(`no answer for ${IDLE_TIMEOUT_MS / 1000} s`)));
      req.on('error', reject);
      req.on('response', resolveRes);
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        const src = body.open();
        src.on('error', (e) => req.destroy(e));
        src.pipe(req);
      }
    });
  }

  /**
   * Sends a request: authenticates on a challenge, follows redirects of GET and HEAD (dropping
   * Authorization when the host changes), retries network errors, 408, 429 and 5xx but 501.
   */
  async request(r: Req): Promise<IncomingMessage> {
    let url = new URL(r.url, this.base);
    let redirects = 0;
    let authTried = false;
    for (let attempt = 1; ; attempt++) {
      const sameHost = url.host === this.base.host;
      const auth = sameHost ? this.auth[r.push ? 'push' : 'pull'] : null;
      const headers: Record<string, string> = { 'user-agent': 'snapgov', ...r.headers, ...(auth ? { authorization: auth } : {}) };
      if (r.body !== undefined) headers['content-length'] = String(Buffer.isBuffer(r.body) ? r.body.length : r.body.length);
      let res: IncomingMessage;
      try {
        res = await this.once(url, r.method, headers, r.body);
      } catch (e) {
        if (attempt < MAX_ATTEMPTS) {
          await sleep(this.backoff(attempt));
          continue;
        }
        const err = e as NodeJS.ErrnoException;
        throw this.fail('REMOTE_UNREACHABLE', `cannot reach ${url.origin}: ${err.code ?? err.message}`, this.ref.plainHttp ? 'is the registry running, on that port, over plain HTTP?' : 'is the host right and the registry up? For a private CA set remotes.NAME.caFile; for a plain-HTTP registry on another host set remotes.NAME.plainHttp');
      }
      const s = res.statusCode ?? 0;
      if (s === 401 && sameHost && !authTried) {
        res.resume();
        authTried = true;
        await this.authenticate(res.headers, !!r.push);
        attempt--;
        continue;
      }
      if ([301, 302, 303, 307, 308].includes(s) && (r.method === 'GET' || r.method === 'HEAD')) {
        res.resume();
        const loc = res.headers.location;
        if (!loc || ++redirects > MAX_REDIRECTS) throw this.fail('REMOTE_ERROR', `too many redirects (or one without a Location) for ${r.url}`, 'the registry or a proxy in front of it sends requests in a circle');
        const next = new URL(loc, url);
        if (next.protocol !== 'https:' && next.protocol !== 'http:') throw this.fail('REMOTE_ERROR', `a redirect to ${next.protocol} URL`, 'only HTTP(S) redirects are followed');
        if (next.protocol === 'http:' && url.protocol === 'https:') throw this.fail('REMOTE_ERROR', `a redirect from HTTPS down to plain HTTP (${next.host})`, 'snapgov does not follow a redirect that drops TLS');
        url = next;
        attempt--;
        continue;
      }
      // Every body can be sent again (a buffer, or a file opened anew).
      if ((s === 408 || s === 429 || (s >= 500 && s !== 501)) && attempt < MAX_ATTEMPTS) {
        res.resume();
        const asked = s === 429 ? retryAfterMs(res.headers['retry-after'] as string | undefined) : null;
        await sleep(asked !== null ? asked * this.scale : this.backoff(attempt));
        continue;
      }
      if (s === 401 || s === 403) {
        const why = await this.errorText(res);
        throw this.fail('REMOTE_AUTH', `the registry refused ${this.creds ? 'the credentials' : 'anonymous access'} (${s}${why ? `: ${why}` : ''})`, 'set SNAPGOV_REGISTRY_USERNAME and SNAPGOV_REGISTRY_PASSWORD (or --password-stdin), or log in with docker/podman; the credentials need push rights to push');
      }
      return res;
    }
  }

  private backoff(attempt: number): number {
    // 250 ms · 2^n, ±10%, at most 3 s (oras-go's policy).
    const base = Math.min(3000, 250 * 2 ** (attempt - 1));
    return base * (0.9 + Math.random() * 0.2) * this.scale;
  }

  private async authenticate(headers: IncomingHttpHeaders, push: boolean): Promise<void> {
    const header = headers['www-authenticate'];
    const ch = typeof header === 'string' ? parseChallenge(header) : null;
    const basic = this.creds?.username !== undefined && this.creds.password !== undefined ? `Basic ${Buffer.from(`${this.creds.username}:${this.creds.password}`).toString('base64')}` : null;
    if (ch?.scheme === 'basic') {
      if (!basic) throw this.fail('REMOTE_AUTH', 'the registry asks for a user name and password', 'set SNAPGOV_REGISTRY_USERNAME and SNAPGOV_REGISTRY_PASSWORD (or --password-stdin), or log in with docker/podman');
      this.auth[push ? 'push' : 'pull'] = basic;
      return;
    }
    // A token of the user's own is sent as it is; otherwise one is asked of the token service.
    if (ch?.scheme === 'bearer' && this.creds?.token) {
      this.auth[push ? 'push' : 'pull'] = `Bearer ${this.creds.token}`;
      return;
    }
    if (ch?.scheme !== 'bearer' || !ch.params.realm) throw this.fail('REMOTE_AUTH', `the registry answered 401 with a challenge snapgov does not know (${String(header).slice(0, 80)})`, 'snapgov speaks the Basic and Bearer token schemes of the distribution spec');
    const realm = new URL(ch.params.realm);
    if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && this.ref.plainHttp)) throw this.fail('REMOTE_AUTH', `the token service ${realm.origin} is not HTTPS`, 'snapgov sends credentials to a token service over HTTPS only (or over plain HTTP to a plain-HTTP registry)');
    if (ch.params.service) realm.searchParams.set('service', ch.params.service);
    const own = `repository:${this.ref.repository}:${push ? 'pull,push' : 'pull'}`;
    for (const sc of new Set([own, ...(ch.params.scope ? ch.params.scope.split(' ') : [])])) realm.searchParams.append('scope', sc);
    const res = await this.once(realm, 'GET', { 'user-agent': 'snapgov', ...(basic ? { authorization: basic } : {}) }, undefined);
    const body = await readBounded(res, MAX_SMALL_BODY, () => this.fail('REMOTE_AUTH', 'the token service sent an endless answer', 'check the registry'));
    if (res.statusCode !== 200) throw this.fail('REMOTE_AUTH', `the token service refused ${basic ? 'the credentials' : 'anonymous access'} (${res.statusCode})`, 'check SNAPGOV_REGISTRY_USERNAME and SNAPGOV_REGISTRY_PASSWORD (or the docker/podman login)');
    let token: unknown;
    try {
      const doc = JSON.parse(body.toString('utf8')) as { token?: unknown; access_token?: unknown };
      token = doc.token ?? doc.access_token;
    } catch {
      token = undefined;
    }
    if (typeof token !== 'string' || !/^[\x21-\x7e]+$/.test(token)) throw this.fail('REMOTE_AUTH', 'the token service answered without a token', 'check the registry');
    this.auth[push ? 'push' : 'pull'] = `Bearer ${token}`;
  }

  private async errorText(res: IncomingMessage): Promise<string> {
    try {
      const b = await readBounded(res, MAX_SMALL_BODY, () => new Error('long'));
      const doc = JSON.parse(b.toString('utf8')) as { errors?: { code?: string; message?: string }[] };
      return (doc.errors ?? []).map((e) => `${e.code ?? 'UNKNOWN'} ${e.message ?? ''}`.trim()).join('; ').slice(0, 300);
    } catch {
      return '';
    }
  }

  private async unexpected(res: IncomingMessage, what: string): Promise<SnapgovError> {
    const text = await this.errorText(res);
    const s = res.statusCode ?? 0;
    if (s === 404) return this.fail('REMOTE_NOT_FOUND', `${what}: not found${text ? ` (${text})` : ''}`, 'check the repository and tag: `snapgov remote list REMOTE` lists the snapshots it holds');
    return this.fail('REMOTE_ERROR', `${what}: the registry answered ${s}${text ? ` (${text})` : ''}`, 'try again later; if it persists, check the registry');
  }

  /** `GET /v2/`: the host is a registry (200, or 401 with a challenge, which is answered). */
  async ping(push: boolean): Promise<void> {
    const res = await this.request({ method: 'GET', url: '/v2/', push });
    res.resume();
    const api = res.headers['docker-distribution-api-version'];
    if (res.statusCode !== 200 || (api !== undefined && !String(api).startsWith('registry/2'))) throw this.fail('REMOTE_UNREACHABLE', `${this.base.origin} is not an OCI registry (GET /v2/ answered ${res.statusCode})`, 'check the host and port of the remote');
  }

  /** The size of a blob in the repository, or null when it is not there. */
  async blobSize(digest: string, push = false): Promise<number | null> {
    const res = await this.request({ method: 'HEAD', url: `/v2/${this.ref.repository}/blobs/${digest}`, push });
    res.resume();
    if (res.statusCode === 404) return null;
    if (res.statusCode !== 200) throw await this.unexpected(res, `blob ${digest}`);
    const n = Number(res.headers['content-length']);
    return Number.isSafeInteger(n) ? n : null;
  }

  /**
   * A blob's bytes (or a range of them) as a stream; the caller hashes and counts what it reads.
   * `range` is inclusive, as in HTTP. With `orWhole`, a registry that ignores the range may answer
   * with the whole blob (status 200) instead of failing.
   */
  async blobStream(digest: string, range?: { start: number; end: number }, orWhole = false): Promise<IncomingMessage> {
    const res = await this.request({ method: 'GET', url: `/v2/${this.ref.repository}/blobs/${digest}`, headers: range ? { range: `bytes=${range.start}-${range.end}` } : {} });
    const want = range ? 206 : 200;
    if (res.statusCode !== want && !(orWhole && res.statusCode === 200)) {
      if (range && res.statusCode === 200) res.destroy();
      throw range && res.statusCode === 200 ? this.fail('REMOTE_ERROR', `blob ${digest}: the registry ignored a range request`, 'a registry (or proxy) without range requests cannot serve an incremental pull') : await this.unexpected(res, `blob ${digest}`);
    }
    return res;
  }

  /** A small blob (a config, a pack index), read whole and checked against its digest when it is whole. */
  async blobBytes(digest: string, max: number, range?: { start: number; end: number }): Promise<Buffer> {
    const res = await this.blobStream(digest, range);
    const bytes = await readBounded(res, max, () => this.fail('REMOTE_INVALID', `blob ${digest} is larger than the ${max} bytes expected`, 'the remote is not a snapgov snapshot, or it was tampered with'));
    if (range && bytes.length !== range.end - range.start + 1) throw this.fail('REMOTE_INVALID', `blob ${digest}: a range of ${range.end - range.start + 1} bytes came back as ${bytes.length}`, 'the registry or a proxy cut the answer; try again');
    if (!range && `sha256:${createHash('sha256').update(bytes).digest('hex')}` !== digest) throw this.fail('REMOTE_INVALID', `blob ${digest}: the bytes received do not match the digest`, 'the registry or something between serves damaged or forged data; nothing was written');
    return bytes;
  }

  /** Uploads a blob (POST, then one streamed PUT with the digest); the registry checks the digest too. */
  async uploadBlob(digest: string, body: Body): Promise<void> {
    const start = await this.request({ method: 'POST', url: `/v2/${this.ref.repository}/blobs/uploads/`, body: Buffer.alloc(0), push: true });
    start.resume();
    if (start.statusCode !== 202 || !start.headers.location) throw await this.unexpected(start, 'starting an upload');
    const loc = new URL(start.headers.location, this.base);
    if (loc.host !== this.base.host) throw this.fail('REMOTE_ERROR', `the upload location is on another host (${loc.host})`, 'snapgov uploads to the registry it was given only');
    loc.searchParams.set('digest', digest);
    const done = await this.request({ method: 'PUT', url: loc.href, headers: { 'content-type': 'application/octet-stream' }, body, push: true });
    if (done.statusCode !== 201) throw await this.unexpected(done, `uploading blob ${digest}`);
    done.resume();
    const said = done.headers['docker-content-digest'];
    if (said !== undefined && said !== digest) throw this.fail('REMOTE_INVALID', `the registry stored blob ${digest} as ${String(said)}`, 'the registry changed the bytes on the way in');
  }

  /** A manifest or index, by tag or digest: its exact bytes, checked against the digest asked for or announced. */
  async manifest(reference: string): Promise<{ bytes: Buffer; digest: string; mediaType: string } | null> {
    const res = await this.request({ method: 'GET', url: `/v2/${this.ref.repository}/manifests/${reference}`, headers: { accept: `${MANIFEST_TYPE}, ${INDEX_TYPE}` } });
    if (res.statusCode === 404) {
      res.resume();
      return null;
    }
    if (res.statusCode !== 200) throw await this.unexpected(res, `manifest ${reference}`);
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > MAX_MANIFEST) {
      res.destroy();
      throw this.fail('REMOTE_INVALID', `manifest ${reference} is ${declared} bytes, more than the 4 MiB a manifest may have`, 'this is not a snapgov snapshot; nothing was written');
    }
    const bytes = await readBounded(res, MAX_MANIFEST, () => this.fail('REMOTE_INVALID', `manifest ${reference} is larger than the 4 MiB a manifest may have`, 'this is not a snapgov snapshot; nothing was written'));
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (reference.startsWith('sha256:') && digest !== reference) throw this.fail('REMOTE_INVALID', `manifest ${reference}: the bytes received hash to ${digest}`, 'the registry serves damaged or forged data; nothing was written');
    const announced = res.headers['docker-content-digest'];
    if (typeof announced === 'string' && announced.startsWith('sha256:') && announced !== digest) throw this.fail('REMOTE_INVALID', `manifest ${reference}: the registry announces ${announced}, the bytes hash to ${digest}`, 'the registry serves damaged or forged data; nothing was written');
    return { bytes, digest, mediaType: String(res.headers['content-type'] ?? '').split(';')[0]!.trim() };
  }

  /** Stores a manifest; `subject` is the registry's OCI-Subject answer (it indexes referrers itself). */
  async putManifest(reference: string, bytes: Buffer, mediaType: string): Promise<{ digest: string; subject: string | null }> {
    if (bytes.length > MAX_MANIFEST) throw this.fail('REMOTE_INVALID', `the manifest is ${bytes.length} bytes, more than the 4 MiB registries accept`, 'the snapshot has too many packs and large files for one manifest');
    const res = await this.request({ method: 'PUT', url: `/v2/${this.ref.repository}/manifests/${reference}`, headers: { 'content-type': mediaType }, body: bytes, push: true });
    if (res.statusCode !== 201) throw await this.unexpected(res, `storing manifest ${reference}`);
    res.resume();
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const said = res.headers['docker-content-digest'];
    if (said !== undefined && said !== digest) throw this.fail('REMOTE_INVALID', `the registry stored the manifest as ${String(said)}, not ${digest}`, 'the registry changed the manifest on the way in');
    const subject = res.headers['oci-subject'];
    return { digest, subject: typeof subject === 'string' ? subject : null };
  }

  /** Every tag of the repository (following `Link` pages when the registry pages). */
  async tags(): Promise<string[]> {
    const out: string[] = [];
    let url = `/v2/${this.ref.repository}/tags/list`;
    for (let page = 0; page < 1000; page++) {
      const res = await this.request({ method: 'GET', url });
      if (res.statusCode === 404) {
        res.resume();
        return out;
      }
      if (res.statusCode !== 200) throw await this.unexpected(res, 'listing tags');
      const body = await readBounded(res, 16 << 20, () => this.fail('REMOTE_INVALID', 'the tag list is larger than 16 MiB', 'check the registry'));
      let doc: { tags?: unknown };
      try {
        doc = JSON.parse(body.toString('utf8')) as { tags?: unknown };
      } catch {
        throw this.fail('REMOTE_INVALID', 'the tag list is not JSON', 'check the registry');
      }
      if (Array.isArray(doc.tags)) out.push(...doc.tags.filter((t): t is string => typeof t === 'string'));
      const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(String(res.headers.link ?? ''));
      if (!next) return out;
      url = next[1]!;
    }
    return out;
  }

  /**
   * The referrers of a manifest: the referrers API where the registry has one, the referrers tag
   * schema (`sha256-<hex>`, an index the pushers keep) where it does not; both merged by digest.
   */
  async referrers(digest: string): Promise<Descriptor[]> {
    const found = new Map<string, Descriptor>();
    const res = await this.request({ method: 'GET', url: `/v2/${this.ref.repository}/referrers/${digest}`, headers: { accept: INDEX_TYPE } });
    if (res.statusCode === 200 && String(res.headers['content-type'] ?? '').startsWith(INDEX_TYPE)) {
      for (const d of parseIndex(await readBounded(res, MAX_MANIFEST, () => this.fail('REMOTE_INVALID', 'the referrers list is larger than 4 MiB', 'check the registry')))) found.set(d.digest, d);
    } else res.resume();
    const tagged = await this.manifest(referrersTag(digest));
    if (tagged) for (const d of parseIndex(tagged.bytes)) found.set(d.digest, d);
    return [...found.values()];
  }
}

function readCa(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new SnapgovError('CONFIG_INVALID', `cannot read the CA file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'fix remotes.NAME.caFile in snapgov.json (a PEM file of the CA certificates to trust)');
  }
}

/** A client for a remote with the credentials found for its registry (a password from stdin first). */
export function clientFor(ref: RemoteRef, stdinPassword: string | null): RegistryClient {
  return new RegistryClient(ref, findCredentials(ref.registry, process.env, stdinPassword));
}

/** The referrers tag schema's tag for a subject. */
export function referrersTag(digest: string): string {
  return digest.replace(':', '-');
}

/** The descriptors of an image index; what is not one is refused. */
export function parseIndex(bytes: Buffer): Descriptor[] {
  let doc: { mediaType?: unknown; manifests?: unknown };
  try {
    doc = JSON.parse(bytes.toString('utf8')) as typeof doc;
  } catch {
    throw new SnapgovError('REMOTE_INVALID', 'a referrers index is not JSON', 'the registry or a pusher wrote something else at the referrers tag');
  }
  if (!Array.isArray(doc.manifests)) throw new SnapgovError('REMOTE_INVALID', 'a referrers index has no manifests list', 'the registry or a pusher wrote something else at the referrers tag');
  return doc.manifests.filter((d): d is Descriptor => typeof d === 'object' && d !== null && typeof (d as Descriptor).digest === 'string' && /^sha256:[0-9a-f]{64}$/.test((d as Descriptor).digest) && Number.isSafeInteger((d as Descriptor).size));
}

/** Reads a whole body, refusing more than `max` bytes (an endless body stops there). */
export function readBounded(res: Readable, max: number, tooLong: () => Error): Promise<Buffer> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    res.on('data', (c: Buffer) => {
      n += c.length;
      if (n > max) {
        reject(tooLong()); // before destroy(), whose events would reject it as a cut answer
        res.destroy();
        return;
      }
      chunks.push(c);
    });
    const cut = () => reject(new SnapgovError('REMOTE_ERROR', `the connection closed after ${n} bytes, before the answer ended`, 'the registry or a proxy cut the answer; try again'));
    res.on('end', () => ((res as IncomingMessage).complete === false ? cut() : resolveBody(Buffer.concat(chunks))));
    res.on('error', cut);
    res.on('aborted', cut);
  });
}
