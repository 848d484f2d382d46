// Push: a snapshot into an OCI repository. Large objects as blobs of their own; small ones in packs,
// reusing the packs of the snapshot the destination tag held before when at least half of their
// bytes are still needed (restic's rule), so an incremental push uploads about what changed.
// Every blob is checked with HEAD first: a second push of the same snapshot uploads nothing.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, existsSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { manifestDelta } from '../core/manifest-delta.js';
import type { Entry, FileEntry } from '../core/manifest.js';
import { SnapgovError } from '../errors.js';
import type { GlobalOptions } from '../output.js';
import { appendAudit } from '../store/audit-log.js';
import { looseObjectPath, manifestPath, type StoreLayout } from '../store/layout.js';
import { ObjectIndex, ObjectReader, PACK_TARGET } from '../store/objects.js';
import { withLock, type Store } from '../store/open.js';
import { encodePackIndex, type PackEntry } from '../store/pack.js';
import { loadManifest, readManifestBytes, readMetadata, type Metadata } from '../store/snapshots.js';
import { writeAllSync } from '../util/fsx.js';
import { inParallel } from '../util/parallel.js';
import { progress, transferLine } from '../util/progress.js';
import { BIG_OBJECT, CONFIG_TYPE, configOf, DELTA_BASE, DELTA_LAYER, digestOf, EMPTY_BYTES, EMPTY_CONFIG, MANIFEST_LAYER, OBJECT_LAYER, PACK_LAYER, PACK_OBJECTS, parseSnapshotManifest, signatureReferrer, snapshotManifest, snapshotTag, type ParsedSnapshot } from './format.js';
import { remotePackIndex } from './packs.js';
import type { RemoteRef } from './reference.js';
import { clientFor, INDEX_TYPE, MANIFEST_TYPE, parseIndex, referrersTag, type Body, type Descriptor, type RegistryClient } from './registry.js';

export interface PushResult {
  remote: string;
  id: string;
  /** The OCI digest of the snapshot's manifest in the repository. */
  digest: string;
  tags: string[];
  blobs: { uploaded: number; present: number; uploadedBytes: number; presentBytes: number };
  packs: { reused: number; written: number };
  signatures: { pushed: number; present: number };
  /** The manifest the destination tag held before, whose packs were reused. */
  base: string | null;
}

const JOBS = 4;

interface Blob {
  desc: Descriptor;
  body: Body;
}

/** Writes a pack of the given objects into the store's tmp folder, re-hashing each as it is read. */
function writePack(layout: StoreLayout, objects: ObjectIndex, reader: ObjectReader, entries: readonly FileEntry[]): { path: string; digest: string; size: number; count: number } {
  const path = join(layout.tmp, `push-pack-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(path, 'wx', 0o600);
  const hash = createHash('sha256');
  const index: PackEntry[] = [];
  let size = 0;
  try {
    for (const e of entries) {
      const offset = size;
      reader.read(e.sha256, objects.get(e.sha256)!, (chunk) => {
        writeAllSync(fd, chunk);
        hash.update(chunk);
        size += chunk.length;
      });
      index.push({ hash: e.sha256, offset, length: size - offset });
    }
    const tail = encodePackIndex(index);
    writeAllSync(fd, tail);
    hash.update(tail);
    size += tail.length;
  } finally {
    closeSync(fd);
  }
  return { path, digest: `sha256:${hash.digest('hex')}`, size, count: entries.length };
}

/** The manifest a tag names, when it is a snapgov snapshot: the base whose packs may be reused. */
async function baseSnapshot(client: RegistryClient, tag: string | null): Promise<{ digest: string; bytes: Buffer; parsed: ParsedSnapshot } | null> {
  if (!tag) return null;
  const m = await client.manifest(tag);
  if (!m) return null;
  try {
    return { digest: m.digest, bytes: m.bytes, parsed: parseSnapshotManifest(m.bytes, m.mediaType) };
  } catch {
    return null; // the tag holds something else: it is overwritten, nothing is reused from it
  }
}

/**
 * The snapgov manifest as the changes from the base's, as a layer, when the store holds the base's
 * manifest and the changes are less than half its size: a host that holds the base then downloads
 * the changes instead of a line per file.
 */
function deltaBlob(layout: StoreLayout, id: string, entries: readonly Entry[], manifestSize: number, base: ParsedSnapshot | undefined): Blob | null {
  if (!base || base.id === id || !existsSync(manifestPath(layout, base.id))) return null;
  const body = Buffer.from(JSON.stringify(manifestDelta(base.id, loadManifest(layout, base.id).entries, entries)));
  if (body.length * 2 > manifestSize) return null;
  return { desc: { mediaType: DELTA_LAYER, digest: digestOf(body), size: body.length, annotations: { [DELTA_BASE]: base.id } }, body };
}

export async function pushSnapshot(client: RegistryClient, layout: StoreLayout, meta: Metadata, tags: string[]): Promise<PushResult> {
  const id = meta.id;
  await client.ping(true);
  const manifestBytes = readManifestBytes(layout, id);
  const entries = loadManifest(layout, id).entries;
  const unique = new Map<string, FileEntry>();
  for (const e of entries) if (e.type === 'file' && !unique.has(e.sha256)) unique.set(e.sha256, e);
  const objects = ObjectIndex.load(layout);
  for (const h of unique.keys()) if (!objects.has(h)) throw new SnapgovError('STORE_CORRUPT', `object ${h} of ${id} is missing from the store`, 'run `snapgov verify --read-data`; nothing was pushed');

  // Pushed before: its manifest is kept (the snapshot's tag is immutable, and others' signatures
  // refer to it), so only the tags move; unless a blob has gone from the repository.
  const pushed = await baseSnapshot(client, snapshotTag(id));
  if (pushed?.parsed.id === id) {
    const descs = [pushed.parsed.config, ...pushed.parsed.packs, ...pushed.parsed.objects, ...pushed.parsed.deltas, { digest: id, size: manifestBytes.length }];
    let complete = true;
    await inParallel(descs, JOBS, async (d) => {
      if ((await client.blobSize(d.digest, true)) !== d.size) complete = false;
    });
    if (complete) {
      for (const t of tags) await client.putManifest(t, pushed.bytes, MANIFEST_TYPE);
      const signatures = await pushSignatures(client, meta, { mediaType: MANIFEST_TYPE, digest: pushed.digest, size: pushed.bytes.length });
      const blobs = { uploaded: 0, present: descs.length, uploadedBytes: 0, presentBytes: descs.reduce((n, d) => n + d.size, 0) };
      return { remote: client.ref.display, id, digest: pushed.digest, tags: [snapshotTag(id), ...tags], blobs, packs: { reused: pushed.parsed.packs.length, written: 0 }, signatures, base: pushed.digest };
    }
  }
  const base = await baseSnapshot(client, tags[0] ?? null);
  const layers: Descriptor[] = [];
  const blobs: Blob[] = [];
  const small: FileEntry[] = [];
  for (const e of unique.values()) {
    if (e.size >= BIG_OBJECT) {
      const desc = { mediaType: OBJECT_LAYER, digest: `sha256:${e.sha256}`, size: e.size };
      layers.push(desc);
      blobs.push({ desc, body: { length: e.size, open: () => createReadStream(looseObjectPath(layout, e.sha256)) } });
    } else small.push(e);
  }
  // Reuse the base's packs that still hold at least half their bytes for this snapshot.
  const covered = new Set<string>();
  let reused = 0;
  const needed = new Set(small.map((e) => e.sha256));
  for (const p of base?.parsed.packs ?? []) {
    const index = await remotePackIndex(client, p);
    const live = index.filter((x) => needed.has(x.hash) && !covered.has(x.hash));
    const data = index.reduce((n, x) => n + x.length, 0);
    if (live.reduce((n, x) => n + x.length, 0) * 2 < data) continue;
    for (const x of live) covered.add(x.hash);
    layers.push({ mediaType: PACK_LAYER, digest: p.digest, size: p.size, annotations: { [PACK_OBJECTS]: String(p.objects) } });
    reused++;
  }
  // The rest in new packs, in manifest (path) order: files that sit together change together.
  const reader = new ObjectReader(layout);
  const temps: string[] = [];
  let written = 0;
  try {
    let group: FileEntry[] = [];
    let groupBytes = 0;
    const flush = () => {
      if (!group.length) return;
      const p = writePack(layout, objects, reader, group);
      temps.push(p.path);
      const desc = { mediaType: PACK_LAYER, digest: p.digest, size: p.size, annotations: { [PACK_OBJECTS]: String(p.count) } };
      layers.push(desc);
      blobs.push({ desc, body: { length: p.size, open: () => createReadStream(p.path) } });
      written++;
      group = [];
      groupBytes = 0;
    };
    for (const e of small) {
      if (covered.has(e.sha256)) continue;
      group.push(e);
      groupBytes += e.size;
      if (groupBytes >= PACK_TARGET) flush();
    }
    flush();
    reader.close();
    const delta = deltaBlob(layout, id, entries, manifestBytes.length, base?.parsed);
    if (delta) {
      layers.push(delta.desc);
      blobs.push(delta);
    }

    const config = configOf(meta, unique.size, [...unique.values()].reduce((n, e) => n + e.size, 0));
    blobs.push({ desc: { mediaType: MANIFEST_LAYER, digest: id, size: manifestBytes.length }, body: manifestBytes });
    blobs.push({ desc: { mediaType: CONFIG_TYPE, digest: digestOf(config), size: config.length }, body: config });
    const stats = { uploaded: 0, present: 0, uploadedBytes: 0, presentBytes: 0 };
    const total = blobs.reduce((n, b) => n + b.desc.size, 0);
    const started = Date.now();
    await inParallel(blobs, JOBS, async (b) => {
      const have = await client.blobSize(b.desc.digest, true);
      if (have === b.desc.size) {
        stats.present++;
        stats.presentBytes += b.desc.size;
      } else {
        await client.uploadBlob(b.desc.digest, b.body);
        stats.uploaded++;
        stats.uploadedBytes += b.desc.size;
      }
      progress(transferLine('pushing', stats.uploadedBytes + stats.presentBytes, total, started), false);
    });
    const oci = snapshotManifest(id, manifestBytes.length, config, layers, meta);
    const { digest } = await client.putManifest(snapshotTag(id), oci, MANIFEST_TYPE);
    for (const t of tags) await client.putManifest(t, oci, MANIFEST_TYPE);
    const signatures = await pushSignatures(client, meta, { mediaType: MANIFEST_TYPE, digest, size: oci.length });
    return { remote: client.ref.display, id, digest, tags: [snapshotTag(id), ...tags], blobs: stats, packs: { reused, written }, signatures, base: base?.digest ?? null };
  } finally {
    reader.close();
    for (const t of temps) rmSync(t, { force: true });
  }
}

/**
 * Each signature as a referrer of the snapshot's manifest. Without a referrers API the referrers
 * tag is kept here: read, appended to, written, and read again until our entry is there
 * (Distribution ignores If-Match, so two pushers can overwrite each other: the one who loses retries).
 */
async function pushSignatures(client: RegistryClient, meta: Metadata, subject: Descriptor): Promise<PushResult['signatures']> {
  const out = { pushed: 0, present: 0 };
  if (meta.signatures.length === 0) return out;
  const existing = new Set((await client.referrers(subject.digest)).map((d) => d.digest));
  const fresh: Descriptor[] = [];
  // A registry that answers OCI-Subject indexes referrers itself; otherwise the tag schema is kept here.
  let indexedByRegistry = true;
  for (const rec of meta.signatures) {
    const r = signatureReferrer(rec, subject, meta.id);
    const digest = digestOf(r.manifest);
    if (existing.has(digest)) {
      out.present++;
      continue;
    }
    for (const b of [{ d: EMPTY_CONFIG.digest, body: EMPTY_BYTES }, { d: digestOf(r.layer), body: r.layer }]) {
      if ((await client.blobSize(b.d, true)) !== b.body.length) await client.uploadBlob(b.d, b.body);
    }
    const put = await client.putManifest(digest, r.manifest, MANIFEST_TYPE);
    if (put.subject !== subject.digest) indexedByRegistry = false;
    fresh.push({ mediaType: MANIFEST_TYPE, digest, size: r.manifest.length, artifactType: r.artifactType, annotations: r.annotations });
    out.pushed++;
  }
  if (fresh.length && !indexedByRegistry) await addToReferrersTag(client, subject.digest, fresh);
  return out;
}

async function addToReferrersTag(client: RegistryClient, subject: string, fresh: Descriptor[]): Promise<void> {
  const tag = referrersTag(subject);
  for (let attempt = 1; attempt <= 8; attempt++) {
    const current = await client.manifest(tag);
    const list = current ? parseIndex(current.bytes) : [];
    const missing = fresh.filter((f) => !list.some((d) => d.digest === f.digest));
    if (missing.length === 0) return;
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX_TYPE, manifests: [...list, ...missing] }));
    await client.putManifest(tag, index, INDEX_TYPE);
    // Another pusher may have written the tag between our read and write: read again, and retry with jitter.
    await new Promise((r) => setTimeout(r, Math.random() * 50 * attempt));
  }
  throw new SnapgovError('REMOTE_ERROR', `the referrers tag ${tag} kept changing under concurrent pushes`, 'push again: the signatures already uploaded are kept');
}

/**
 * Pushes a snapshot to one remote and tag under a shared lock, then records `push` under the
 * exclusive one (`push` and a promotion's tag move share it).
 */
export async function pushTag(g: GlobalOptions, store: Store, ref: RemoteRef, id: string, password: string | null = null): Promise<PushResult> {
  const client = clientFor(ref, password);
  try {
    const res = await withLock(g, store.layout, 'shared', 'push', async () => pushSnapshot(client, store.layout, await readMetadata(store.layout, id), ref.tag ? [ref.tag] : []));
    await withLock(g, store.layout, 'exclusive', 'push', () => appendAudit(store.layout, { action: 'push', to: res.id, outcome: 'success', details: { remote: ref.display, digest: res.digest, tags: res.tags, uploadedBytes: res.blobs.uploadedBytes } }));
    return res;
  } finally {
    client.close();
  }
}
