import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import type { ChalkInstance } from 'chalk';
import { serializeManifest, snapshotIdOf } from '../core/manifest.js';
import { shortId } from '../core/ref.js';
import { EXIT_PARTIAL, SnapgovError } from '../errors.js';
import { formatBytes, outcome, type GlobalOptions, type Outcome } from '../output.js';
import { appendAudit } from '../store/audit-log.js';
import { ensureStoreDirs, manifestPath, metadataPath } from '../store/layout.js';
import { commitStaged, discardStaged, ObjectIndex } from '../store/objects.js';
import { readLive, TOOL_VERSION, writeLive, writeMetadata, type IndexSummary, type Metadata, type Trigger } from '../store/snapshots.js';
import { summarizeIndex } from '../scan/index-summary.js';
import { scanTree, type Skipped } from '../scan/scan.js';
import { currentActor } from '../util/actor.js';
import { atomicWriteFile } from '../util/fsx.js';
import { openStore, parseLabels, withLock } from './common.js';

export const USER_TRIGGERS = ['manual', 'cron', 'ci', 'promotion'] as const;

export interface CreateOptions {
  trigger?: string;
  env?: string;
  tag?: string[];
  label?: string[];
  message?: string;
  time?: string;
  allowPartial?: boolean;
  allowInconsistentIndex?: boolean;
}

export interface CreateResult {
  id: string;
  created: boolean;
  files: number;
  bytes: number;
  newBytes: number;
  newObjects: number;
  incomplete: boolean;
  skipped: Skipped[];
  index: IndexSummary | null;
  durationMs: number;
}

/** The workspace's git commit, when it is inside a git work tree and git is installed. */
function gitCommit(root: string): { commit: string } | null {
  const r = spawnSync('git', ['-C', root, 'rev-parse', '--verify', '-q', 'HEAD'], { encoding: 'utf8' });
  const c = r.status === 0 ? r.stdout.trim() : '';
  return /^[0-9a-f]{40,64}$/.test(c) ? { commit: c } : null;
}

function parseTime(t: string | undefined): string {
  if (t === undefined) return new Date().toISOString();
  const ms = Date.parse(t);
  if (!/^\d{4}-\d{2}-\d{2}/.test(t) || Number.isNaN(ms)) throw new SnapgovError('USAGE', `--time ${JSON.stringify(t)} is not an ISO 8601 time`, 'for example --time 2026-01-31T12:00:00Z');
  return new Date(ms).toISOString();
}

export async function create(opts: CreateOptions, g: GlobalOptions): Promise<Outcome<CreateResult>> {
  const started = performance.now();
  const trigger = (opts.trigger ?? 'manual') as Trigger;
  if (!(USER_TRIGGERS as readonly string[]).includes(trigger)) {
    throw new SnapgovError('USAGE', `unknown trigger ${JSON.stringify(opts.trigger)}`, `use one of ${USER_TRIGGERS.join(', ')}`);
  }
  const labels = parseLabels(opts.label ?? []);
  const time = parseTime(opts.time);
  const tags = [...new Set(opts.tag ?? [])];
  if (tags.some((t) => t.trim() === '')) throw new SnapgovError('USAGE', 'empty --tag', 'give every tag a name');
  const { ws, layout } = await openStore(g);

  return withLock(g, layout, 'exclusive', 'create', async (lock) => {
    const objects = ObjectIndex.load(layout);
    const scan = await scanTree(ws, { objects, layout });
    const staged = scan.staged;
    try {
      if (scan.skipped.length > 0 && !opts.allowPartial) {
        const list = scan.skipped.slice(0, 10).map((s) => `${s.path} (${s.reason})`).join('; ');
        throw new SnapgovError('FILE_UNREADABLE', `${scan.skipped.length} file(s) could not be read: ${list}`, 'fix the permissions or exclude them in snapgov.json; --allow-partial takes an incomplete snapshot without them (exit 3)', { skipped: scan.skipped });
      }
      const bytes = serializeManifest(scan.entries);
      const id = snapshotIdOf(bytes);
      const index = await summarizeIndex(ws, scan.entries);
      if (index && !index.consistent && !opts.allowInconsistentIndex) {
        const list = (index.problems ?? []).slice(0, 10).map((p) => `${p.path}: ${p.message}`).join('; ');
        throw new SnapgovError('INDEX_INCONSISTENT', `the artifact index ${index.path} is inconsistent: ${list}`, 'fix the index or the artifacts; --allow-inconsistent-index snapshots it anyway and records that it is inconsistent', { problems: index.problems });
      }
      const incomplete = scan.skipped.length > 0;
      const base: Omit<CreateResult, 'created' | 'durationMs' | 'newBytes' | 'newObjects'> = { id, files: scan.files, bytes: scan.bytes, incomplete, skipped: scan.skipped, index };
      const live = await readLive(layout);

      lock.assertHeld();
      ensureStoreDirs(layout);
      // Crash-safe order: objects, then the manifest, then the metadata that makes the snapshot visible.
      // Staged objects are ones the store lacked, so committing them also repairs an existing snapshot.
      commitStaged(layout, staged);
      if (existsSync(metadataPath(layout, id))) {
        if (live?.id !== id) writeLive(layout, { id, since: new Date().toISOString(), action: 'create' });
        return finish({ ...base, created: false, newBytes: staged.newBytes, newObjects: staged.newObjects, durationMs: performance.now() - started });
      }
      if (!existsSync(manifestPath(layout, id))) atomicWriteFile(manifestPath(layout, id), bytes, { mode: 0o444 });
      const durationMs = performance.now() - started;
      const actor = currentActor();
      const md: Metadata = {
        format: 'snapgov-metadata/1',
        id,
        time,
        trigger,
        env: opts.env ?? null,
        tags,
        labels,
        message: opts.message ?? null,
        host: actor.host,
        user: actor.user,
        toolVersion: TOOL_VERSION,
        git: gitCommit(ws.root),
        stats: { files: scan.files, bytes: scan.bytes, newBytes: staged.newBytes, newObjects: staged.newObjects, durationMs: Math.round(durationMs) },
        incomplete,
        ...(incomplete ? { skipped: scan.skipped } : {}),
        index,
        signatures: [],
      };
      writeMetadata(layout, md);
      writeLive(layout, { id, since: new Date().toISOString(), action: 'create' });
      await appendAudit(layout, {
        action: 'create',
        to: id,
        outcome: incomplete ? 'partial' : 'success',
        ...(opts.message ? { reason: opts.message } : {}),
        details: { trigger, files: scan.files, bytes: scan.bytes, newBytes: staged.newBytes, incomplete },
      });
      return finish({ ...base, created: true, newBytes: staged.newBytes, newObjects: staged.newObjects, durationMs });
    } catch (e) {
      discardStaged(staged);
      throw e;
    }
  });

  function finish(r: CreateResult): Outcome<CreateResult> {
    r.durationMs = Math.round(r.durationMs);
    const warnings = r.skipped.map((s) => `skipped ${s.path}: ${s.reason}`);
    if (r.index && !r.index.consistent) warnings.push(`the artifact index is inconsistent (${r.index.problems?.length ?? 0} problem(s)); recorded in the metadata`);
    if (!r.created && (tags.length || opts.message || Object.keys(labels).length)) warnings.push('the tree is unchanged, so no snapshot was made and --tag/--label/--message were not recorded');
    return outcome(r, renderCreate, r.incomplete ? EXIT_PARTIAL : 0, warnings);
  }
}

function renderCreate(r: CreateResult, s: ChalkInstance): string {
  const head = r.created ? `${s.green('created')} snapshot ${s.bold(shortId(r.id))}` : `${s.cyan('unchanged')}: the tree is already snapshot ${s.bold(shortId(r.id))}`;
  const lines = [head + (r.incomplete ? s.yellow(' (incomplete)') : ''), `  id:     ${r.id}`, `  files:  ${r.files} (${formatBytes(r.bytes)}), new data ${formatBytes(r.newBytes)}`];
  if (r.index) lines.push(`  index:  ${r.index.path}, ${r.index.artifacts} artifact(s), ${r.index.consistent ? 'consistent' : s.yellow('inconsistent')}`);
  lines.push(`  took:   ${(r.durationMs / 1000).toFixed(2)} s`);
  return lines.join('\n');
}
