import { chmodSync, mkdirSync, statSync } from 'node:fs';
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

/**
 * Creates every store folder (idempotent; called by init and before each write). The store holds
 * copies of the user's files, so its top folders are the owner's alone (0700, as restic's), and an
 * older, looser store is tightened on its next write.
 */
export function ensureStoreDirs(l: StoreLayout): void {
  for (const d of [l.objects, l.packs, l.manifests, l.tmp, l.locks, l.cache, l.metadata, l.rehearsal]) mkdirSync(d, { recursive: true, mode: 0o700 });
  for (const d of [dirname(l.objects), l.metadata, l.rehearsal]) if ((statSync(d).mode & 0o077) !== 0) chmodSync(d, 0o700);
}
