// Pull: a snapshot from an OCI repository into the local store, checked in this order before
// anything is visible: the manifest's digest, the snapgov manifest's digest (the snapshot ID) and
// its canonical form, the signatures against the trust policy (a required policy that fails stops
// here, before any object is downloaded), then every object re-hashed and its size checked. Only
// the objects the store lacks are fetched: big blobs whole, small objects by range from packs.
import { createHash } from 'node:crypto';
import { existsSync, fchmodSync, fsync, ftruncateSync } from 'node:fs';
import { promisify } from 'node:util';
import { applyManifestDelta, type ManifestDelta } from '../core/manifest-delta.js';
import { ManifestError, parseManifest, type FileEntry } from '../core/manifest.js';
import { SnapgovError } from '../errors.js';
import type { GlobalOptions } from '../output.js';
import { ObjectChecks } from '../pool/pool.js';
import { validate } from '../schema.js';
import { checkSignatureRecord, trustSatisfied, type SignatureReport } from '../signing/signatures.js';
import { loadTrust, type TrustFlags, type TrustSet } from '../signing/trust.js';
import { adoptSnapshot } from '../store/adopt.js';
import { HashTable } from '../store/hash-table.js';
import { metadataPath, type StoreLayout } from '../store/layout.js';
import { LOOSE_MIN, ObjectIndex, ObjectWriter, type StagedObjects } from '../store/objects.js';
import { withLock, type Store } from '../store/open.js';
import { PACK_RECORD, PACK_TRAILER, type PackEntry } from '../store/pack.js';
import type { SignatureRecord } from '../store/signature-files.js';
import { loadManifest, type Metadata } from '../store/snapshots.js';
import { writeAllSync } from '../util/fsx.js';
import { inParallel } from '../util/parallel.js';
import { progress, transferLine } from '../util/progress.js';
import { BUNDLE_TYPE, metadataFromConfig, parseSnapshotManifest, PGP_ARTIFACT, PGP_LAYER, snapshotTag, type ParsedSnapshot } from './format.js';
import { remotePackIndex } from './packs.js';
import type { RemoteRef } from './reference.js';
import { clientFor, type Descriptor, type RegistryClient } from './registry.js';

const MAX_SNAPGOV_MANIFEST = 512 << 20;
const MAX_CONFIG = 16 << 20;
const MAX_SIGNATURE = 1 << 20;
/** Ranges closer than this are read as one (fewer requests for a few wasted bytes). */
const RANGE_GAP = 64 << 10;
const RANGE_MAX = 8 << 20;
const JOBS = 4;
const fsyncAsync = promisify(fsync);

export interface Fetched {
  id: string;
  digest: string;
  manifest: Buffer;
  metadata: Metadata;
  signatures: SignatureReport[];
  trustSatisfied: boolean;
  staged: StagedObjects | null;
  objects: number;
  downloadedBytes: number;
}

const invalid = (m: string) => new SnapgovError('REMOTE_INVALID', m, 'the remote does not hold what it claims (damaged, or tampered with); nothing was written');

/** The manifest a reference names: a tag, a digest, or a snapshot ID (through its immutable tag). */
export async function resolveRemote(client: RegistryClient, snapshot: string | null): Promise<{ digest: string; parsed: ParsedSnapshot; bytes: Buffer }> {
  const { ref } = client;
  const reference = snapshot ? snapshotTag(snapshot) : (ref.digest ?? ref.tag);
  if (!reference) throw new SnapgovError('USAGE', `${ref.display} names no tag or digest`, 'add :TAG or @sha256:DIGEST, or pass --snapshot ID');
  const m = await client.manifest(reference);
  if (!m) throw new SnapgovError('REMOTE_NOT_FOUND', `${ref.registry}/${ref.repository} has no ${snapshot ? `snapshot ${snapshot}` : reference}`, '`snapgov remote list REMOTE` lists the snapshots it holds');
  const parsed = parseSnapshotManifest(m.bytes, m.mediaType);
  if (snapshot && parsed.id !== snapshot) throw invalid(`the tag ${reference} names snapshot ${parsed.id}, not ${snapshot}`);
  return { digest: m.digest, parsed, bytes: m.bytes };
}

/**
 * The snapgov manifest rebuilt from a delta against a snapshot the store holds; null when there
 * is none, or it is damaged or does not make bytes that hash to the ID (the whole manifest is
 * read instead: the ID, not the delta, is what counts).
 */
async function manifestFromDelta(client: RegistryClient, layout: StoreLayout, parsed: ParsedSnapshot): Promise<{ manifest: Buffer; downloaded: number } | null> {
  const d = parsed.deltas.find((x) => existsSync(metadataPath(layout, x.base)));
  if (!d) return null;
  let doc: ManifestDelta;
  try {
    doc = JSON.parse((await client.blobBytes(d.digest, d.size)).toString('utf8')) as ManifestDelta;
  } catch {
    return null; // gone, damaged or cut: the whole manifest's download says what is wrong, if anything
  }
  if (!(await validate('oci-manifest-delta', doc)).ok || doc.base !== d.base) return null;
  let manifest: Buffer | null;
  try {
    manifest = applyManifestDelta(loadManifest(layout, d.base).entries, doc, parsed.id);
  } catch {
    return null; // the base's manifest here is damaged: `verify` says so; the pull reads the whole one
  }
  return manifest ? { manifest, downloaded: d.size } : null;
}

/** Signatures from the referrers of the snapshot's manifest, checked over its bytes against the trust policy. */
async function remoteSignatures(client: RegistryClient, digest: string, id: string, manifest: Buffer, trust: TrustSet): Promise<{ records: SignatureRecord[]; reports: SignatureReport[] }> {
  const records: SignatureRecord[] = [];
  const reports: SignatureReport[] = [];
  for (const d of await client.referrers(digest)) {
    if (d.artifactType !== BUNDLE_TYPE && d.artifactType !== PGP_ARTIFACT) continue;
    const m = await client.manifest(d.digest);
    if (!m) continue; // listed but gone (registry garbage collection): as if unsigned, the policy decides
    let doc: { subject?: Descriptor; layers?: Descriptor[]; annotations?: Record<string, string> };
    try {
      doc = JSON.parse(m.bytes.toString('utf8')) as typeof doc;
    } catch {
      continue;
    }
    const layer = doc.layers?.[0];
    const a = doc.annotations ?? {};
    if (doc.subject?.digest !== digest || !layer || doc.layers!.length !== 1 || ![BUNDLE_TYPE, PGP_LAYER].includes(layer.mediaType) || layer.size > MAX_SIGNATURE || a['dev.snapgov.snapshot.id'] !== id) continue;
    const signature = (await client.blobBytes(layer.digest, MAX_SIGNATURE)).toString('utf8');
    const method = a['dev.snapgov.signature.method'];
    const type = layer.mediaType === PGP_LAYER ? 'pgp' : 'sigstore';
    if (type === 'pgp' ? method !== 'pgp' : method !== 'key' && method !== 'keyless') continue;
    const rec: SignatureRecord = { type, method: method as SignatureRecord['method'], signer: a['dev.snapgov.signer'] ?? 'unknown', ...(a['dev.snapgov.issuer'] ? { issuer: a['dev.snapgov.issuer'] } : {}), time: a['org.opencontainers.image.created'] ?? '', file: '', signature, ...(a['dev.snapgov.public-key'] ? { publicKey: a['dev.snapgov.public-key'] } : {}) };
    const report = await checkSignatureRecord(rec, manifest, trust);
    reports.push(report);
    // Only a signature that verifies is kept: a forged one would be reported as invalid forever after.
    if (report.valid) records.push({ ...rec, signer: report.signer });
  }
  return { records, reports };
}

interface Source {
  blob: string;
  offset: number;
  length: number;
  /** An object blob of its own. */
  whole: boolean;
  /** In a pack fetched whole and kept as a local pack. */
  kept?: boolean;
}

/** Where each missing object can be read: its own blob, or a range of a pack. */
interface Located {
  at: Map<string, Source>;
  /** Packs of which every object is missing here: fetched whole and kept as they are, as local packs. */
  whole: { digest: string; size: number; entries: PackEntry[] }[];
  indexBytes: number;
}

async function locate(client: RegistryClient, parsed: ParsedSnapshot, missing: Map<string, FileEntry>): Promise<Located> {
  const at = new Map<string, Source>();
  const whole: Located['whole'] = [];
  let indexBytes = 0;
  for (const o of parsed.objects) {
    const h = o.digest.slice('sha256:'.length);
    const e = missing.get(h);
    if (e && o.size === e.size) at.set(h, { blob: o.digest, offset: 0, length: o.size, whole: true });
  }
  // Newest packs first (a push puts the packs it writes after those it reuses, which hold what a
  // host following the tag has already), and no more indexes once every object is found.
  const packs = [...parsed.packs].reverse();
  for (let i = 0; i < packs.length && at.size < missing.size; i += JOBS) {
    await inParallel(packs.slice(i, i + JOBS), JOBS, async (p) => {
      indexBytes += p.objects * PACK_RECORD + PACK_TRAILER;
      const index = await remotePackIndex(client, p);
      const mine = index.filter((x) => {
        const e = missing.get(x.hash);
        return e !== undefined && !at.has(x.hash) && x.length === e.size;
      });
      // A pack whose every object is needed and of the size the manifest says is a local pack as it stands (its name is its digest).
      if (mine.length === index.length && new Set(mine.map((x) => x.hash)).size === mine.length) {
        for (const x of mine) at.set(x.hash, { blob: p.digest, offset: x.offset, length: x.length, whole: false, kept: true });
        whole.push({ digest: p.digest, size: p.size, entries: index });
      } else for (const x of mine) at.set(x.hash, { blob: p.digest, offset: x.offset, length: x.length, whole: false });
    });
  }
  for (const h of missing.keys()) if (!at.has(h)) throw invalid(`object ${h} of the snapshot is in none of its packs or blobs`);
  return { at, whole, indexBytes };
}

/** Reads every missing object, each re-hashed and counted against the manifest, into staged files. */
async function download(client: RegistryClient, layout: StoreLayout, { at: sources, whole }: Located, missing: Map<string, FileEntry>, writer: ObjectWriter): Promise<number> {
  let bytes = 0;
  const total = [...missing.values()].reduce((n, e) => n + e.size, 0);
  const started = Date.now();
  const check = (h: string, data: Buffer) => {
    if (data.length !== missing.get(h)!.size || createHash('sha256').update(data).digest('hex') !== h) throw invalid(`object ${h} came back with other bytes than its hash (or size) in the signed manifest`);
  };
  // Packs: adjacent ranges read together.
  const byPack = new Map<string, { hash: string; offset: number; length: number }[]>();
  const big: string[] = [];
  for (const [h, s] of sources) {
    if (s.kept) continue;
    if (s.whole) big.push(h);
    else byPack.set(s.blob, [...(byPack.get(s.blob) ?? []), { hash: h, offset: s.offset, length: s.length }]);
  }
  const runs: { blob: string; start: number; end: number; items: { hash: string; offset: number; length: number }[] }[] = [];
  for (const [blob, items] of byPack) {
    items.sort((a, b) => a.offset - b.offset);
    let run: (typeof runs)[number] | null = null;
    for (const it of items) {
      if (run && it.offset - run.end - 1 <= RANGE_GAP && it.offset + it.length - run.start <= RANGE_MAX) {
        run.end = it.offset + it.length - 1;
        run.items.push(it);
      } else {
        run = { blob, start: it.offset, end: it.offset + it.length - 1, items: [it] };
        runs.push(run);
      }
    }
  }
  // Objects are written to the staging files in one order: downloads run in parallel, writes do not.
  await inParallel(runs, JOBS, async (r) => {
    const data = r.end >= r.start ? await client.blobBytes(r.blob, r.end - r.start + 1, { start: r.start, end: r.end }) : Buffer.alloc(0);
    bytes += data.length;
    for (const it of r.items) {
      const obj = data.subarray(it.offset - r.start, it.offset - r.start + it.length);
      check(it.hash, obj);
      stage(writer, it.hash, obj);
    }
    progress(transferLine('pulling', bytes, total, started), false);
  });
  // Packs needed whole, and large objects: streamed to staging files of their own that a cut
  // download leaves for the next pull to go on from; each checked once whole (the blob against its
  // digest, a pack's objects against the hashes the signed manifest gives them) on worker threads
  // while the downloads go on.
  const files = [...whole.map((p) => ({ digest: p.digest, size: p.size, entries: p.entries })), ...big.map((h) => ({ digest: `sha256:${h}`, size: missing.get(h)!.size, entries: null }))];
  const checks = new ObjectChecks(layout, files.reduce((n, f) => n + f.size, 0));
  const kept = (t: { fd: number; path: string }, e: unknown) => {
    // Bytes that do not check out are thrown away; a cut download is kept to be resumed.
    if (e instanceof SnapgovError && e.code === 'REMOTE_INVALID') writer.abortLarge(t);
    else writer.keepResumable(t);
    return e;
  };
  const checked: Promise<unknown>[] = [];
  let failure: unknown = null;
  try {
    await inParallel(files, JOBS, async (f) => {
      const hex = f.digest.slice('sha256:'.length);
      const what = f.entries ? `pack ${f.digest}` : `object ${hex}`;
      const t = writer.beginResumable(hex);
      try {
        const got = await streamBlob(client, f.digest, f.size, t, what);
        bytes += got;
      } catch (e) {
        throw kept(t, e);
      }
      progress(transferLine('pulling', bytes, total, started), false);
      const done = Promise.all([checks.run([{ kind: 'staged', file: t.path, digest: hex, size: f.size, entries: f.entries }]), fsyncAsync(t.fd)]).then(([failures]) => {
        if (failures.length) throw invalid(`${what} came back with other bytes than its digest or the signed manifest say: ${failures[0]!.message}`);
        fchmodSync(t.fd, 0o444);
        if (f.entries) writer.adoptPack(t, hex, f.entries);
        else writer.endLarge(t, Buffer.from(hex, 'hex'), hex, f.size);
      });
      // Settled here, thrown below: a failed check must not go unhandled while the downloads go on.
      checked.push(done.then(() => null, (e: unknown) => kept(t, e)));
    });
  } catch (e) {
    failure = e;
  }
  // Every check ends before the caller may discard what was staged.
  const failed = (await Promise.all(checked)).find((e) => e !== null);
  await checks.close();
  if (failure !== null) throw failure;
  if (failed !== undefined) throw failed;
  return bytes;
}

/**
 * Streams a blob into a staging file, going on from the bytes it holds already (a range request
 * for the rest; from the start again where the registry ignores ranges): refuses a byte more than
 * `size`; a cut connection is a REMOTE_ERROR. Returns the bytes downloaded now. The caller checks
 * the bytes.
 */
async function streamBlob(client: RegistryClient, digest: string, size: number, t: { fd: number; size: number }, what: string): Promise<number> {
  if (t.size > size) throw invalid(`${what} is longer than the ${size} bytes the manifests give it`);
  let n = t.size;
  if (n === size) return 0;
  const res = n > 0 ? await client.blobStream(digest, { start: n, end: size - 1 }, true) : await client.blobStream(digest);
  if (n > 0 && res.statusCode === 200) {
    ftruncateSync(t.fd, 0);
    n = 0;
  }
  const start = n;
  const chunks = (res as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<Buffer>;
    try {
      next = await chunks.next();
    } catch {
      throw new SnapgovError('REMOTE_ERROR', `the download of ${what} was cut after ${n} bytes`, 'the registry or a proxy cut the answer; pull again: it goes on from there');
    }
    if (next.done) break;
    n += next.value.length;
    if (n > size) {
      res.destroy();
      throw invalid(`${what} is longer than the ${size} bytes the manifests give it`);
    }
    writeAllSync(t.fd, next.value);
  }
  if (n !== size) throw invalid(`${what} came back shorter than the ${size} bytes the manifests give it`);
  return n - start;
}

function stage(writer: ObjectWriter, h: string, data: Buffer): void {
  if (data.length < LOOSE_MIN) {
    writer.addSmall(Buffer.from(h, 'hex'), h, data);
    return;
  }
  const t = writer.beginLarge();
  try {
    writeAllSync(t.fd, data);
  } catch (e) {
    writer.abortLarge(t);
    throw e;
  }
  writer.endLarge(t, Buffer.from(h, 'hex'), h, data.length);
}

/**
 * Fetches and checks a snapshot and stages the objects the store lacks (nothing visible yet);
 * `present` skips the objects when the store holds the snapshot already.
 */
export async function fetchSnapshot(client: RegistryClient, layout: StoreLayout, objects: ObjectIndex, trust: TrustSet, snapshot: string | null, present: (id: string) => boolean): Promise<Fetched> {
  await client.ping(false);
  const { digest, parsed } = await resolveRemote(client, snapshot);
  const id = parsed.id;
  if (parsed.manifestSize > MAX_SNAPGOV_MANIFEST) throw invalid(`the snapshot manifest is said to be ${parsed.manifestSize} bytes`);
  const delta = await manifestFromDelta(client, layout, parsed);
  const manifest = delta?.manifest ?? (await client.blobBytes(id, Math.max(parsed.manifestSize, 1)));
  let entries: FileEntry[];
  try {
    entries = parseManifest(manifest).entries.filter((e): e is FileEntry => e.type === 'file');
  } catch (e) {
    if (e instanceof ManifestError) throw invalid(`the snapshot manifest ${id} is not a valid snapgov manifest: ${e.message}`);
    throw e;
  }
  const configBytes = await client.blobBytes(parsed.config.digest, Math.min(MAX_CONFIG, Math.max(parsed.config.size, 1)));
  const metadata = metadataFromConfig(configBytes, id);
  const c = await validate('oci-config', JSON.parse(configBytes.toString('utf8')));
  if (!c.ok) throw invalid(`the snapshot's config does not match schemas/oci-config.schema.json: ${c.errors.slice(0, 3).join('; ')}`);
  const v = await validate('metadata', metadata);
  if (!v.ok) throw invalid(`the snapshot's config does not hold valid metadata: ${v.errors.slice(0, 3).join('; ')}`);
  const { records, reports } = await remoteSignatures(client, digest, id, manifest, trust);
  const satisfied = trustSatisfied(reports, trust.threshold);
  if (trust.required && !satisfied) {
    throw new SnapgovError('TARGET_UNTRUSTED', `${id} on ${client.ref.display}: ${reports.filter((r) => r.trusted).length} trusted signature(s) of the ${trust.threshold} the trust policy requires${reports.length ? ` (${reports.map((r) => `${r.signer}: ${r.reason}`).join('; ').slice(0, 300)})` : ' (it has none)'}`, 'nothing was downloaded; sign the snapshot where it was made and push again (a push adds only the new signatures)');
  }
  const fetched = { id, digest, manifest, metadata: { ...metadata, signatures: records }, signatures: reports, trustSatisfied: satisfied, objects: new Set(entries.map((e) => e.sha256)).size };
  // Everything this pull moved: the snapshot's manifest and config, then pack indexes and objects.
  const metaBytes = (delta?.downloaded ?? manifest.length) + configBytes.length;
  if (present(id)) return { ...fetched, staged: null, downloadedBytes: metaBytes };
  const missing = new Map<string, FileEntry>();
  for (const e of entries) if (!objects.has(e.sha256) && !missing.has(e.sha256)) missing.set(e.sha256, e);
  const total = [...missing.values()].reduce((n, e) => n + e.size, 0);
  progress(`pulling ${missing.size} object(s), ${total} bytes`);
  const known = HashTable.fromShared(objects.shared());
  const writer = new ObjectWriter(layout.tmp, (h) => known.has(h));
  try {
    const located = await locate(client, parsed, missing);
    const downloadedBytes = metaBytes + located.indexBytes + (await download(client, layout, located, missing, writer));
    return { ...fetched, staged: writer.finish(), downloadedBytes };
  } catch (e) {
    writer.discard();
    throw e;
  }
}

export interface PullResult {
  remote: string;
  id: string;
  digest: string;
  /** False when the store already held the snapshot. */
  pulled: boolean;
  objects: number;
  newObjects: number;
  /** Bytes of the snapshot's manifest and config, the pack indexes and the objects this pull read. */
  downloadedBytes: number;
  signatures: { signer: string; type: string; valid: boolean; trusted: boolean; reason: string }[];
  trustSatisfied: boolean;
}

export interface PullOptions extends Pick<TrustFlags, 'key' | 'requireSignature'> {
  snapshot?: string;
}

/** Fetches a snapshot into the store under the exclusive lock (as import does), or finds it there. */
export async function pullSnapshot(store: Store, g: GlobalOptions, r: RemoteRef, o: PullOptions, password: string | null): Promise<PullResult> {
  if (o.snapshot !== undefined && !/^sha256:[0-9a-f]{64}$/.test(o.snapshot)) throw new SnapgovError('USAGE', `--snapshot ${JSON.stringify(o.snapshot)} is not a snapshot ID`, 'give the full ID, sha256:<64 hex>');
  const trust = await loadTrust(store.ws, { key: o.key, requireSignature: o.requireSignature });
  const c = clientFor(r, password);
  try {
    return await withLock(g, store.layout, 'exclusive', 'pull', async (lock) => {
      const objects = ObjectIndex.load(store.layout);
      const f = await fetchSnapshot(c, store.layout, objects, trust, o.snapshot ?? null, (id) => existsSync(metadataPath(store.layout, id)));
      const base = { remote: r.display, id: f.id, digest: f.digest, objects: f.objects, signatures: f.signatures.map((x) => ({ signer: x.signer, type: x.type, valid: x.valid, trusted: x.trusted, reason: x.reason })), trustSatisfied: f.trustSatisfied };
      if (!f.staged) return { ...base, pulled: false, newObjects: 0, downloadedBytes: f.downloadedBytes };
      await adoptSnapshot(store.layout, lock, f.manifest, f.metadata, f.staged, { action: 'pull', to: f.id, outcome: 'success', details: { remote: r.display, digest: f.digest, newObjects: f.staged.newObjects, downloadedBytes: f.downloadedBytes } });
      return { ...base, pulled: true, newObjects: f.staged.newObjects, downloadedBytes: f.downloadedBytes };
    });
  } finally {
    c.close();
  }
}
