// How a snapshot is laid out in an OCI registry (docs/oci.md): one image manifest whose first layer
// is the canonical snapgov manifest (so its blob digest is the snapshot ID), a config blob with the
// immutable metadata, packs of small objects and one blob per large object; each signature is a
// referrer manifest whose subject is the snapshot's.
import { createHash } from 'node:crypto';
import { SnapgovError } from '../errors.js';
import type { SignatureRecord } from '../store/signature-files.js';
import type { Metadata } from '../store/snapshots.js';
import { MANIFEST_TYPE, type Descriptor } from './registry.js';

export const ARTIFACT_TYPE = 'application/vnd.snapgov.snapshot.v1';
export const CONFIG_TYPE = 'application/vnd.snapgov.snapshot.config.v1+json';
export const MANIFEST_LAYER = 'application/vnd.snapgov.manifest.v1+json';
export const PACK_LAYER = 'application/vnd.snapgov.pack.v1';
export const OBJECT_LAYER = 'application/vnd.snapgov.object.v1';
export const DELTA_LAYER = 'application/vnd.snapgov.manifest-delta.v1+json';
export const BUNDLE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
export const PGP_ARTIFACT = 'application/vnd.snapgov.pgp-signature.v1';
export const PGP_LAYER = 'application/pgp-signature';
export const CONFIG_FORMAT = 'snapgov-oci/1';
/** Objects this large travel as blobs of their own (exact dedup across snapshots and repositories); smaller ones in packs. */
export const BIG_OBJECT = 4 << 20;
/** The annotation that gives a pack's object count, so one suffix range reads its index. */
export const PACK_OBJECTS = 'dev.snapgov.pack.objects';
/** On a delta layer: the snapshot ID it applies to. */
export const DELTA_BASE = 'dev.snapgov.delta.base';

const EMPTY = Buffer.from('{}');
export const EMPTY_CONFIG: Descriptor = { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf(EMPTY), size: 2 };
export const EMPTY_BYTES = EMPTY;

export function digestOf(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/** The immutable tag of a snapshot: found by ID without any index, and kept by registries' untagged-GC rules. */
export function snapshotTag(id: string): string {
  return `snap-${id.slice('sha256:'.length)}`;
}

/** What the config blob carries: the metadata without what is host-local or travels apart (signatures as referrers, pins). */
export interface SnapshotConfig {
  format: typeof CONFIG_FORMAT;
  id: string;
  metadata: Omit<Metadata, 'signatures' | 'pinned' | 'protectedUntil' | 'format' | 'id'>;
  objects: number;
  bytes: number;
}

export function configOf(meta: Metadata, objects: number, bytes: number): Buffer {
  const { signatures: _s, pinned: _p, protectedUntil: _u, format: _f, id, ...rest } = meta;
  const doc: SnapshotConfig = { format: CONFIG_FORMAT, id, metadata: rest, objects, bytes };
  return Buffer.from(JSON.stringify(doc));
}

export function snapshotManifest(id: string, manifestSize: number, config: Buffer, layers: Descriptor[], meta: Metadata): Buffer {
  const doc = {
    schemaVersion: 2,
    mediaType: MANIFEST_TYPE,
    artifactType: ARTIFACT_TYPE,
    config: { mediaType: CONFIG_TYPE, digest: digestOf(config), size: config.length },
    layers: [{ mediaType: MANIFEST_LAYER, digest: id, size: manifestSize, annotations: { 'org.opencontainers.image.title': 'manifest.json' } }, ...layers],
    annotations: { 'org.opencontainers.image.created': meta.time, 'dev.snapgov.snapshot.id': id, 'dev.snapgov.format': CONFIG_FORMAT, ...(meta.git ? { 'org.opencontainers.image.revision': meta.git.commit } : {}) },
  };
  return Buffer.from(JSON.stringify(doc));
}

/** A referrer manifest for one signature: the cosign bundle layout for Sigstore, an `application/pgp-signature` layer for OpenPGP. */
export function signatureReferrer(rec: SignatureRecord, subject: Descriptor, snapshotId: string): { manifest: Buffer; layer: Buffer; artifactType: string; annotations: Record<string, string> } {
  const layer = Buffer.from(rec.signature);
  const sigstore = rec.type === 'sigstore';
  const artifactType = sigstore ? BUNDLE_TYPE : PGP_ARTIFACT;
  const annotations: Record<string, string> = {
    'org.opencontainers.image.created': rec.time,
    ...(sigstore ? { 'dev.sigstore.bundle.content': 'message-signature' } : {}),
    'dev.snapgov.snapshot.id': snapshotId,
    'dev.snapgov.signer': rec.signer,
    'dev.snapgov.signature.method': rec.method,
    ...(rec.issuer ? { 'dev.snapgov.issuer': rec.issuer } : {}),
    ...(rec.publicKey ? { 'dev.snapgov.public-key': rec.publicKey } : {}),
  };
  const title = sigstore ? `${digestOf(layer).replace(':', '-')}.sigstore.json` : `${rec.signer.replace(/[^A-Za-z0-9@._-]/g, '_')}.asc`;
  const doc = {
    schemaVersion: 2,
    mediaType: MANIFEST_TYPE,
    artifactType,
    config: EMPTY_CONFIG,
    layers: [{ mediaType: sigstore ? BUNDLE_TYPE : PGP_LAYER, digest: digestOf(layer), size: layer.length, annotations: { 'org.opencontainers.image.title': title } }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations,
  };
  return { manifest: Buffer.from(JSON.stringify(doc)), layer, artifactType, annotations };
}

const invalid = (why: string) => new SnapgovError('REMOTE_INVALID', `not a snapgov snapshot: ${why}`, 'the tag or digest names another kind of artifact, or the artifact was tampered with; nothing was written');

export interface ParsedSnapshot {
  id: string;
  manifestSize: number;
  config: Descriptor;
  packs: (Descriptor & { objects: number })[];
  objects: Descriptor[];
  /** The snapgov manifest as changes from earlier snapshots (each smaller than the manifest). */
  deltas: (Descriptor & { base: string })[];
}

const isDescriptor = (d: unknown): d is Descriptor => {
  const x = d as Descriptor;
  return typeof x === 'object' && x !== null && typeof x.mediaType === 'string' && typeof x.digest === 'string' && /^sha256:[0-9a-f]{64}$/.test(x.digest) && Number.isSafeInteger(x.size) && x.size >= 0;
};

/** Checks an image manifest is a snapgov snapshot and reads its parts; anything else is refused. */
export function parseSnapshotManifest(bytes: Buffer, mediaType: string): ParsedSnapshot {
  let doc: { schemaVersion?: unknown; mediaType?: unknown; artifactType?: unknown; config?: unknown; layers?: unknown };
  try {
    doc = JSON.parse(bytes.toString('utf8')) as typeof doc;
  } catch {
    throw invalid('the manifest is not JSON');
  }
  if (doc.schemaVersion !== 2 || (doc.mediaType !== undefined && doc.mediaType !== MANIFEST_TYPE)) throw invalid(`the manifest is not an OCI image manifest (${String(doc.mediaType ?? mediaType)})`);
  if (mediaType && mediaType !== MANIFEST_TYPE) throw invalid(`the registry serves it as ${mediaType}`);
  if (doc.artifactType !== ARTIFACT_TYPE) throw invalid(`its artifact type is ${JSON.stringify(doc.artifactType ?? null)}, not ${ARTIFACT_TYPE}`);
  if (!isDescriptor(doc.config) || doc.config.mediaType !== CONFIG_TYPE) throw invalid('its config is not a snapgov snapshot config');
  if (!Array.isArray(doc.layers) || doc.layers.length === 0 || !doc.layers.every(isDescriptor)) throw invalid('its layers are not descriptors');
  const [first, ...rest] = doc.layers as Descriptor[];
  if (first!.mediaType !== MANIFEST_LAYER) throw invalid(`its first layer is ${first!.mediaType}, not the snapgov manifest`);
  const packs: ParsedSnapshot['packs'] = [];
  const objects: Descriptor[] = [];
  const deltas: ParsedSnapshot['deltas'] = [];
  for (const l of rest) {
    if (l.mediaType === PACK_LAYER) {
      const n = Number(l.annotations?.[PACK_OBJECTS]);
      if (!Number.isSafeInteger(n) || n < 1 || n * 48 + 16 > l.size) throw invalid(`pack ${l.digest} does not say how many objects it holds, or more than fit in it`);
      packs.push({ ...l, objects: n });
    } else if (l.mediaType === OBJECT_LAYER) objects.push(l);
    else if (l.mediaType === DELTA_LAYER) {
      const base = l.annotations?.[DELTA_BASE] ?? '';
      if (!/^sha256:[0-9a-f]{64}$/.test(base)) throw invalid(`delta ${l.digest} does not say which snapshot it applies to`);
      if (l.size < first!.size) deltas.push({ ...l, base });
    }
    // Other layer types are someone else's: ignored, as the image spec asks.
  }
  return { id: first!.digest, manifestSize: first!.size, config: doc.config, packs, objects, deltas };
}

/** The metadata a pulled snapshot gets: the config's, with no signatures yet (they come from referrers). */
export function metadataFromConfig(bytes: Buffer, id: string): Metadata {
  let doc: Partial<SnapshotConfig>;
  try {
    doc = JSON.parse(bytes.toString('utf8')) as Partial<SnapshotConfig>;
  } catch {
    throw invalid('its config is not JSON');
  }
  if (doc.format !== CONFIG_FORMAT || doc.id !== id || typeof doc.metadata !== 'object' || doc.metadata === null) throw invalid(`its config is not a ${CONFIG_FORMAT} config of ${id}`);
  return { format: 'snapgov-metadata/1', id, ...doc.metadata, signatures: [] } as Metadata;
}
