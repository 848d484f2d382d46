import type { ChalkInstance } from 'chalk';
import { formatBytes, outcome, type GlobalOptions, type Outcome } from '../output.js';
import { manifestPath, metadataPath } from '../store/layout.js';
import { readLive, type Metadata } from '../store/snapshots.js';
import { openStore, resolveSnapshot } from '../store/open.js';
import { snapshotPins, type SnapshotPins } from '../governance/history.js';

export interface InfoResult extends Metadata {
  manifestFile: string;
  metadataFile: string;
  live: boolean;
  environments: SnapshotPins;
}

export async function info(ref: string, _opts: object, g: GlobalOptions): Promise<Outcome<InfoResult>> {
  const { layout } = await openStore(g);
  const snap = await resolveSnapshot(layout, ref);
  const live = await readLive(layout);
  const result: InfoResult = { ...snap.meta, manifestFile: manifestPath(layout, snap.id), metadataFile: metadataPath(layout, snap.id), live: live?.id === snap.id, environments: snapshotPins(layout, snap.id) };
  return outcome(result, renderInfo);
}

function renderInfo(r: InfoResult, s: ChalkInstance): string {
  const lines = [
    `${s.bold('snapshot')} ${r.id}${r.live ? s.green('  (live tree is here)') : ''}`,
    `  time:       ${r.time}`,
    `  trigger:    ${r.trigger}${r.env ? `  env: ${r.env}` : ''}`,
    `  by:         ${r.user}@${r.host} with snapgov ${r.toolVersion}`,
  ];
  if (r.message) lines.push(`  message:    ${r.message}`);
  if (r.tags.length) lines.push(`  tags:       ${r.tags.join(', ')}`);
  const labels = Object.entries(r.labels);
  if (labels.length) lines.push(`  labels:     ${labels.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  if (r.git) lines.push(`  git:        ${r.git.commit}`);
  lines.push(`  files:      ${r.stats.files} (${formatBytes(r.stats.bytes)}); new when taken: ${formatBytes(r.stats.newBytes)} in ${r.stats.newObjects} object(s); took ${(r.stats.durationMs / 1000).toFixed(2)} s`);
  if (r.incomplete) lines.push(s.yellow(`  incomplete: ${r.skipped?.length ?? 0} file(s) skipped`));
  if (r.index) lines.push(`  index:      ${r.index.path} sha256:${r.index.sha256 ?? '-'}, ${r.index.artifacts} artifact(s), ${r.index.consistent ? 'consistent' : s.yellow('inconsistent')}`);
  else lines.push('  index:      (none configured)');
  lines.push(`  signatures: ${r.signatures.length}`);
  const e = r.environments;
  if (e.pinnedIn.length || e.pinnedBefore.length || e.untrusted.length) {
    lines.push(`  pinned in:  ${e.pinnedIn.join(', ') || '-'}${e.pinnedBefore.length ? `  (before: ${e.pinnedBefore.join(', ')})` : ''}${e.untrusted.length ? s.red(`  (history not trusted: ${e.untrusted.join(', ')})`) : ''}`);
  }
  lines.push(`  manifest:   ${r.manifestFile}`);
  return lines.join('\n');
}
