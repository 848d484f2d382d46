import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { SnapgovError } from '../errors.js';
import { ManifestError, parseManifest, sha256Hex, type Manifest } from '../core/manifest.js';
import { compareByTime, resolveRef } from '../core/ref.js';
import { readDocument } from '../schema.js';
import { atomicWriteFile } from '../util/fsx.js';
import { manifestPath, metadataPath, type StoreLayout } from './layout.js';
import type { SignatureRecord } from './signature-files.js';

export type Trigger = 'manual' | 'cron' | 'ci' | 'promotion' | 'pre-rollback' | 'rehearsal' | 'import';

export interface IndexSummary {
  path: string;
  sha256: string | null;
  artifacts: number;
  consistent: boolean;
  problems?: { code: string; path: string; message: string }[];
}

export interface Metadata {
  format: 'snapgov-metadata/1';
  id: string;
  time: string;
  trigger: Trigger;
  env: string | null;
  tags: string[];
  labels: Record<string, string>;
  message: string | null;
  host: string;
  user: string;
  toolVersion: string;
  git: { commit: string } | null;
  stats: { files: number; bytes: number; newBytes: number; newObjects: number; durationMs: number };
  incomplete: boolean;
  skipped?: { path: string; reason: string }[];
  index: IndexSummary | null;
  signatures: SignatureRecord[];
  /** Not pruned before this time (safety snapshots taken by rollback). */
  protectedUntil?: string;
  /** Set by `snapgov pin`: never pruned while present. */
  pinned?: { time: string; user: string; reason: string | null };
}

export const TOOL_VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

const HEX_JSON = /^([0-9a-f]{64})\.json$/;

/** A snapshot is visible once its metadata (the last thing written) and its manifest both exist. */
export function listSnapshotIds(l: StoreLayout): string[] {
  let names: string[];
  try {
    names = readdirSync(l.metadata);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const n of names) {
    const m = HEX_JSON.exec(n);
    if (m) out.push(`sha256:${m[1]}`);
  }
  return out;
}

export function readManifestBytes(l: StoreLayout, id: string): Buffer {
  try {
    return readFileSync(manifestPath(l, id));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new SnapgovError('STORE_CORRUPT', `the manifest of ${id} is missing`, 'run `snapgov verify --all`; restore the manifest from an export or a backup of the store');
    }
    throw e;
  }
}

/** Reads, hashes and parses a manifest: its bytes must hash to its ID and be canonical. */
export function loadManifest(l: StoreLayout, id: string): Manifest {
  const bytes = readManifestBytes(l, id);
  const got = `sha256:${sha256Hex(bytes)}`;
  if (got !== id) {
    throw new SnapgovError('STORE_CORRUPT', `the manifest of ${id} is corrupt: its bytes hash to ${got}`, 'run `snapgov verify --all` to see every damaged snapshot; re-import it from an export if you have one');
  }
  try {
    return parseManifest(bytes);
  } catch (e) {
    throw new SnapgovError('STORE_CORRUPT', `the manifest of ${id} is invalid: ${(e as ManifestError).message}`, 'run `snapgov verify --all`');
  }
}

export async function readMetadata(l: StoreLayout, id: string): Promise<Metadata> {
  const hint = 'run `snapgov verify --all`';
  const md = await readDocument<Metadata>(metadataPath(l, id), 'metadata', `the metadata of ${id}`, hint);
  if (!md) throw new SnapgovError('STORE_CORRUPT', `the metadata of ${id} is missing`, hint);
  if (md.id !== id) throw new SnapgovError('STORE_CORRUPT', `the metadata file of ${id} describes ${md.id}`, 'run `snapgov verify --all`');
  return md;
}

export function writeMetadata(l: StoreLayout, md: Metadata): void {
  atomicWriteFile(metadataPath(l, md.id), JSON.stringify(md, null, 2) + '\n');
}

export interface SnapshotRecord {
  id: string;
  time: string;
  meta: Metadata;
}

/** Every readable snapshot, oldest first; unreadable metadata is reported, not hidden. */
export async function loadHistory(l: StoreLayout): Promise<{ snapshots: SnapshotRecord[]; broken: { id: string; message: string }[] }> {
  const snapshots: SnapshotRecord[] = [];
  const broken: { id: string; message: string }[] = [];
  for (const id of listSnapshotIds(l)) {
    try {
      const meta = await readMetadata(l, id);
      snapshots.push({ id, time: meta.time, meta });
    } catch (e) {
      broken.push({ id, message: (e as Error).message });
    }
  }
  snapshots.sort(compareByTime);
  return { snapshots, broken };
}

export interface LivePointer {
  id: string;
  since: string;
  action: string;
}

export function readLive(l: StoreLayout): Promise<LivePointer | null> {
  return readDocument<LivePointer>(l.live, 'live', l.live, 'remove it; the next `snapgov create` writes it again');
}

/** Resolves a REF against the store's history; `live` reads the live pointer. */
export async function resolveStoreRef(l: StoreLayout, ref: string, snapshots: readonly SnapshotRecord[]): Promise<SnapshotRecord> {
  return resolveRef(ref, snapshots, ref === 'live' ? { live: (await readLive(l))?.id ?? null } : {});
}

export function writeLive(l: StoreLayout, p: LivePointer): void {
  atomicWriteFile(l.live, JSON.stringify(p) + '\n');
}
