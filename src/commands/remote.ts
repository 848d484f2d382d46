import type { ChalkInstance } from 'chalk';
import { readFileSync } from 'node:fs';
import { shortId } from '../core/ref.js';
import { SnapgovError } from '../errors.js';
import { formatBytes, outcome, type GlobalOptions, type Outcome } from '../output.js';
import { parseSnapshotManifest, metadataFromConfig, snapshotTag } from '../remote/format.js';
import { pullSnapshot, type PullOptions, type PullResult } from '../remote/pull.js';
import { pushTag, type PushResult } from '../remote/push.js';
import { inParallel } from '../util/parallel.js';
import { parseRemote, type RemoteRef } from '../remote/reference.js';
import { clientFor } from '../remote/registry.js';
import { openStore, resolveSnapshot } from '../store/open.js';
import type { Workspace } from '../config/config.js';

export interface RemoteOptions {
  passwordStdin?: boolean;
}

function stdinPassword(o: RemoteOptions): string | null {
  if (!o.passwordStdin) return null;
  const text = readFileSync(0, 'utf8');
  return text.replace(/\r?\n$/, '');
}

export type { PullResult };

/** `push [REF] REMOTE...`: the first word is a REF unless it is a remote itself. */
function splitPushArgs(ws: Workspace, args: string[]): { ref: string; remotes: RemoteRef[] } {
  if (args.length === 0) throw new SnapgovError('USAGE', 'name a remote', 'snapgov push [REF] oci://HOST/REPO[:TAG]...');
  const isRemote = (a: string) => a.startsWith('oci://') || Object.hasOwn(ws.config.remotes, a.split(/[:@]/)[0]!);
  const ref = isRemote(args[0]!) ? 'latest' : args[0]!;
  const rest = isRemote(args[0]!) ? args : args.slice(1);
  if (rest.length === 0) throw new SnapgovError('USAGE', `${args[0]} is a snapshot, not a remote`, 'snapgov push REF oci://HOST/REPO[:TAG]');
  return { ref, remotes: rest.map((r) => parseRemote(r, ws)) };
}

export interface PushCmdResult {
  pushes: PushResult[];
}

export async function push(args: string[], o: RemoteOptions, g: GlobalOptions): Promise<Outcome<PushCmdResult>> {
  const store = await openStore(g);
  const { ref, remotes } = splitPushArgs(store.ws, args);
  for (const r of remotes) {
    if (r.digest) throw new SnapgovError('USAGE', `${r.display}: a push names a tag, not a digest`, 'snapgov push REF oci://HOST/REPO:TAG');
    // snap-<hex> and sha256-<hex> are snapgov's own: a snapshot's immutable tag, and the referrers tag.
    if (r.tag && /^(snap|sha256)-/.test(r.tag)) throw new SnapgovError('USAGE', `${r.display}: tags starting with snap- or sha256- are snapgov's own`, 'choose another tag, such as prod or staging');
  }
  const password = stdinPassword(o);
  const { id } = await resolveSnapshot(store.layout, ref);
  const pushes: PushResult[] = [];
  for (const r of remotes) pushes.push(await pushTag(g, store, r, id, password));
  return outcome({ pushes }, renderPush);
}

function renderPush(r: PushCmdResult, s: ChalkInstance): string {
  return r.pushes
    .map((p) => [
      `${s.green('pushed')} ${s.bold(shortId(p.id))} to ${p.remote} (${p.digest})`,
      `  tags: ${p.tags.join(', ')}`,
      `  uploaded ${p.blobs.uploaded} blob(s), ${formatBytes(p.blobs.uploadedBytes)}; already there ${p.blobs.present}, ${formatBytes(p.blobs.presentBytes)}; packs reused ${p.packs.reused}, new ${p.packs.written}`,
      `  signatures: ${p.signatures.pushed} pushed, ${p.signatures.present} already there`,
    ].join('\n'))
    .join('\n');
}

export async function pull(remote: string, o: PullOptions & RemoteOptions, g: GlobalOptions): Promise<Outcome<PullResult>> {
  const store = await openStore(g);
  const r = parseRemote(remote, store.ws);
  const res = await pullSnapshot(store, g, r, o, stdinPassword(o));
  return outcome(res, (x, s) => `${x.pulled ? s.green('pulled') : s.green('already here')}: ${s.bold(shortId(x.id))} from ${x.remote}${x.pulled ? ` (${x.newObjects} new object(s), ${formatBytes(x.downloadedBytes)} downloaded)` : ''}; ${x.signatures.filter((y) => y.trusted).length} trusted signature(s)`);
}

export interface RemoteListResult {
  remote: string;
  snapshots: { id: string; digest: string; time: string; tags: string[]; signatures: number }[];
}

export async function remoteList(remote: string, o: RemoteOptions, g: GlobalOptions): Promise<Outcome<RemoteListResult>> {
  const store = await openStore(g);
  const r = parseRemote(remote, store.ws);
  const c = clientFor(r, stdinPassword(o));
  try {
    await c.ping(false);
    const tags = await c.tags();
    const byDigest = new Map<string, { id: string; digest: string; time: string; tags: string[]; signatures: number }>();
    const digests = new Map<string, string>();
    // Every tag that is not a referrers tag may name a snapshot: read what each names.
    await inParallel(tags.filter((t) => !/^sha256-[0-9a-f]{64}$/.test(t)), 4, async (t) => {
      const m = await c.manifest(t);
      if (m) digests.set(t, m.digest);
      if (!m || !t.startsWith('snap-')) return;
      try {
        const p = parseSnapshotManifest(m.bytes, m.mediaType);
        if (snapshotTag(p.id) !== t) return;
        const meta = metadataFromConfig(await c.blobBytes(p.config.digest, 16 << 20), p.id);
        byDigest.set(m.digest, { id: p.id, digest: m.digest, time: meta.time, tags: [], signatures: (await c.referrers(m.digest)).length });
      } catch {
        // not a snapgov snapshot after all: not listed
      }
    });
    for (const [t, d] of digests) byDigest.get(d)?.tags.push(t);
    const snapshots = [...byDigest.values()].map((x) => ({ ...x, tags: x.tags.sort() })).sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0));
    return outcome({ remote: r.display, snapshots }, (x, s) => x.snapshots.map((y) => `${s.bold(shortId(y.id))}  ${y.time}  ${y.signatures} signature(s)  ${y.tags.filter((t) => !t.startsWith('snap-')).join(', ')}`).join('\n') || `${x.remote} holds no snapgov snapshots`);
  } finally {
    c.close();
  }
}
