import { chmodSync, lstatSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Workspace } from '../config/config.js';

/** Where everything lives inside the store folders (documented in docs/store-format.md). */
export interface StoreLayout {
  objects: string;
  packs: string;
  manifests: string;
  tmp: string;
  locks: string;
  cache: string;
  metadata: string;
  auditLog: string;
  auditHead: string;
  live: string;
  /** The journal of a rollback in progress. */
  journal: string;
  rehearsal: string;
}

export function storeLayout(ws: Pick<Workspace, 'dirs'>): StoreLayout {
  const s = ws.dirs.snapshots;
  const m = ws.dirs.metadata;
  return {
    objects: join(s, 'objects'),
    packs: join(s, 'packs'),
    manifests: join(s, 'manifests'),
    tmp: join(s, 'tmp'),
    locks: join(s, 'locks'),
    cache: join(s, 'cache'),
    metadata: m,
    auditLog: join(m, 'audit.log'),
    auditHead: join(m, 'audit.head'),
    live: join(m, 'live.json'),
    journal: join(s, 'rollback-journal.json'),
    rehearsal: ws.dirs.rehearsal,
  };
}

export function hexOf(id: string): string {
  return id.startsWith('sha256:') ? id.slice(7) : id;
}

export function manifestPath(l: StoreLayout, id: string): string {
  return join(l.manifests, `${hexOf(id)}.json`);
}

export function metadataPath(l: StoreLayout, id: string): string {
  return join(l.metadata, `${hexOf(id)}.json`);
}

export function looseObjectPath(l: StoreLayout, hash: string): string {
  return join(l.objects, hash.slice(0, 2), hash);
}

const SNAPSHOTS_ENTRY = /^(objects|packs|manifests|tmp|locks|cache|rollback-journal\.json|README\.md|\..+\.tmp-.+)$/;
const METADATA_ENTRY = /^(audit\.log|audit\.head|live\.json|config\.json|signatures|statements|decisions|envs|checkpoints|[0-9a-f]{64}\.json|README\.md|\..+\.tmp-.+)$/;

/**
 * What in the store's two folders snapgov did not make: a store pointed at an existing folder
 * (`/etc`, a home folder) must not be adopted, since prune and gc delete inside it. A folder that
 * does not exist yet holds nothing foreign.
 */
export function foreignEntries(l: StoreLayout): string[] {
  const list = (dir: string, ok: RegExp) => {
    try {
      return readdirSync(dir).filter((n) => !ok.test(n)).map((n) => join(dir, n));
    } catch {
      return [];
    }
  };
  return [...list(dirname(l.objects), SNAPSHOTS_ENTRY), ...list(l.metadata, METADATA_ENTRY)];
}

/** Store folders that are symbolic links: prune, gc and every write would act wherever they point. */
export function linkedFolders(l: StoreLayout): string[] {
  return [l.objects, l.packs, l.manifests, l.tmp, l.locks, l.cache, join(l.metadata, 'signatures'), join(l.metadata, 'statements'), join(l.metadata, 'decisions'), join(l.metadata, 'envs'), join(l.metadata, 'checkpoints')].filter((d) => {
    try {
      return lstatSync(d).isSymbolicLink();
    } catch {
      return false;
    }
  });
}

/**
 * Creates every store folder (idempotent; called by init and before each write). The store holds
 * copies of the user's files, so its top folders are the owner's alone (0700, as restic's), and an
 * older, looser store is tightened on its next write.
 */
export function ensureStoreDirs(l: StoreLayout): void {
  for (const d of [l.objects, l.packs, l.manifests, l.tmp, l.locks, l.cache, l.metadata, l.rehearsal]) mkdirSync(d, { recursive: true, mode: 0o700 });
  for (const d of [dirname(l.objects), l.metadata, l.rehearsal]) if ((statSync(d).mode & 0o077) !== 0) chmodSync(d, 0o700);
}
