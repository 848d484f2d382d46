import { existsSync } from 'node:fs';
import type { Workspace } from '../config/config.js';
import { indexProblemHint } from '../core/index-check.js';
import { serializeManifest, snapshotIdOf, type Entry } from '../core/manifest.js';
import { SnapgovError } from '../errors.js';
import { appendAudit } from '../store/audit-log.js';
import { ensureStoreDirs, manifestPath, metadataPath, type StoreLayout } from '../store/layout.js';
import type { StoreLock } from '../store/lock.js';
import { commitStaged, discardStaged, ObjectIndex } from '../store/objects.js';
import { readLive, readMetadata, TOOL_VERSION, writeLive, writeMetadata, type IndexSummary, type Metadata, type Trigger } from '../store/snapshots.js';
import { summarizeIndex } from '../scan/index-summary.js';
import { scanTree, type Skipped } from '../scan/scan.js';
import { currentActor } from '../util/actor.js';
import { gitCommit } from './git-commit.js';
import { atomicWriteFile } from '../util/fsx.js';
import { boundedList } from '../util/text.js';
import { progress } from '../util/progress.js';
import { faultPoint } from '../util/fault.js';

export interface SnapshotOptions {
  trigger: Trigger;
  env?: string | undefined;
  tags?: string[];
  labels?: Record<string, string>;
  message?: string | undefined;
  /** Recorded creation time (ISO); now when absent. */
  time?: string | undefined;
  allowPartial?: boolean | undefined;
  allowInconsistentIndex?: boolean | undefined;
  /** Keep this snapshot from being pruned until then (safety snapshots). */
  protectedUntil?: string;
}

export interface TakenSnapshot {
  id: string;
  created: boolean;
  files: number;
  bytes: number;
  newBytes: number;
  newObjects: number;
  incomplete: boolean;
  skipped: Skipped[];
  index: IndexSummary | null;
  /** The tree's entries (for callers that go on to compare it). */
  entries: Entry[];
}

function later(a: string | undefined, b: string | undefined): string | undefined {
  if (!a) return b;
  if (!b) return a;
  return Date.parse(a) >= Date.parse(b) ? a : b;
}

/** The manifest and its ID, refused as create refuses: unreadable files (without --allow-partial), an inconsistent index. */
async function judgeScan(ws: Workspace, scan: { entries: Entry[]; skipped: Skipped[] }, opts: SnapshotOptions): Promise<{ bytes: Buffer; id: string; index: IndexSummary | null }> {
  if (scan.skipped.length > 0 && !opts.allowPartial) {
    const list = boundedList(scan.skipped.map((s) => `${s.path} (${s.reason})`));
    throw new SnapgovError('FILE_UNREADABLE', `${scan.skipped.length} file(s) could not be read: ${list}`, 'fix the permissions or exclude them in snapgov.json; --allow-partial takes an incomplete snapshot without them (exit 3)', { skipped: scan.skipped });
  }
  const bytes = serializeManifest(scan.entries);
  const id = snapshotIdOf(bytes);
  const index = await summarizeIndex(ws, scan.entries);
  if (index && !index.consistent && !opts.allowInconsistentIndex) {
    const problems = index.problems ?? [];
    const list = boundedList(problems.map((p) => `${p.path}: ${p.message}`));
    throw new SnapgovError('INDEX_INCONSISTENT', `the artifact index ${index.path} is inconsistent: ${list}`, `${indexProblemHint(ws.config.index!, problems, index.artifacts)}; --allow-inconsistent-index snapshots it anyway and records that it is inconsistent`, { problems });
  }
  return { bytes, id, index };
}

/** What create would record, read without writing anything to the store (create --dry-run). */
export async function previewSnapshot(ws: Workspace, layout: StoreLayout, opts: SnapshotOptions): Promise<TakenSnapshot> {
  progress('reading the tree…');
  const scan = await scanTree(ws, { objects: null, layout });
  const { id, index } = await judgeScan(ws, scan, opts);
  const objects = ObjectIndex.load(layout);
  const fresh = new Map<string, number>();
  for (const e of scan.entries) if (e.type === 'file' && !objects.has(e.sha256)) fresh.set(e.sha256, e.size);
  const newBytes = [...fresh.values()].reduce((n, x) => n + x, 0);
  return { id, created: !existsSync(metadataPath(layout, id)), files: scan.files, bytes: scan.bytes, newBytes, newObjects: fresh.size, incomplete: scan.skipped.length > 0, skipped: scan.skipped, index, entries: scan.entries };
}

/**
 * Snapshots the managed tree; the caller holds the exclusive lock. Crash-safe order: objects,
 * then the manifest, then the metadata that makes the snapshot visible, then the live pointer and
 * the audit line. An unchanged tree gives the existing snapshot (created: false) — still committing
 * any object the store had lost, and extending its protection when asked.
 */
export async function takeSnapshot(ws: Workspace, layout: StoreLayout, lock: StoreLock, opts: SnapshotOptions, reuse: { objects?: ObjectIndex } = {}): Promise<TakenSnapshot> {
  const started = performance.now();
  // A caller that loaded the index under the same lock passes it (it does not learn the objects committed here).
  const objects = reuse.objects ?? ObjectIndex.load(layout);
  const git = gitCommit(ws.root);
  progress(opts.trigger === 'pre-rollback' ? 'taking the safety snapshot of the live tree…' : 'reading the tree…');
  const scan = await scanTree(ws, { objects, layout });
  const staged = scan.staged;
  try {
    const { bytes, id, index } = await judgeScan(ws, scan, opts);
    const incomplete = scan.skipped.length > 0;
    const base = { id, files: scan.files, bytes: scan.bytes, incomplete, skipped: scan.skipped, index, entries: scan.entries, newBytes: staged.newBytes, newObjects: staged.newObjects };
    const live = await readLive(layout);

    lock.assertHeld();
    ensureStoreDirs(layout);
    // Staged objects are ones the store lacked, so committing them also repairs an existing snapshot.
    commitStaged(layout, staged);
    if (existsSync(metadataPath(layout, id))) {
      if (opts.protectedUntil) {
        const md = await readMetadata(layout, id);
        const until = later(md.protectedUntil, opts.protectedUntil);
        if (until !== md.protectedUntil) writeMetadata(layout, { ...md, protectedUntil: until! });
      }
      if (live?.id !== id) writeLive(layout, { id, since: new Date().toISOString(), action: 'create' });
      return { ...base, created: false };
    }
    if (!existsSync(manifestPath(layout, id))) atomicWriteFile(manifestPath(layout, id), bytes, { mode: 0o444 });
    const actor = currentActor();
    const md: Metadata = {
      format: 'snapgov-metadata/1',
      id,
      time: opts.time ?? new Date().toISOString(),
      trigger: opts.trigger,
      env: opts.env ?? null,
      tags: opts.tags ?? [],
      labels: opts.labels ?? {},
      message: opts.message ?? null,
      host: actor.host,
      user: actor.user,
      toolVersion: TOOL_VERSION,
      git: await git,
      stats: { files: scan.files, bytes: scan.bytes, newBytes: staged.newBytes, newObjects: staged.newObjects, durationMs: Math.round(performance.now() - started) },
      incomplete,
      ...(incomplete ? { skipped: scan.skipped } : {}),
      index,
      signatures: [],
      ...(opts.protectedUntil ? { protectedUntil: opts.protectedUntil } : {}),
    };
    // The record first, then the metadata that makes the snapshot visible: a full disk or a crash in
    // between leaves a record of a create that does not show (the next create makes it), never a
    // snapshot the audit trail does not know.
    await appendAudit(layout, {
      action: 'create',
      to: id,
      outcome: incomplete ? 'partial' : 'success',
      ...(opts.message ? { reason: opts.message } : {}),
      details: { trigger: opts.trigger, files: scan.files, bytes: scan.bytes, newBytes: staged.newBytes, incomplete },
    });
    faultPoint('create-publish');
    try {
      writeMetadata(layout, md);
    } catch (e) {
      await appendAudit(layout, { action: 'create', to: id, outcome: 'failure', details: { error: (e as Error).message } }).catch(() => undefined);
      throw e;
    }
    writeLive(layout, { id, since: new Date().toISOString(), action: 'create' });
    return { ...base, created: true };
  } catch (e) {
    discardStaged(staged);
    throw e;
  }
}
