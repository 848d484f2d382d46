import type { ChalkInstance } from 'chalk';
import { shortId } from '../core/ref.js';
import { SnapgovError } from '../errors.js';
import { outcome, type GlobalOptions, type Outcome } from '../output.js';
import { appendAudit } from '../store/audit-log.js';
import { loadHistory, readMetadata, resolveStoreRef, writeMetadata } from '../store/snapshots.js';
import { parseLabels } from './common.js';
import { openStore, withLock } from '../store/open.js';
import { hasControl } from '../util/text.js';

export interface TagOptions {
  remove?: string[];
  label?: string[];
  unlabel?: string[];
  move?: boolean;
}

export interface TagResult {
  id: string;
  tags: string[];
  labels: Record<string, string>;
  added: string[];
  removed: string[];
  labelsSet: string[];
  labelsRemoved: string[];
  /** With --move: the other snapshots the added tags were taken from. */
  movedFrom: { id: string; tags: string[] }[];
  /** False when the snapshot already was as asked (nothing written, nothing audited). */
  changed: boolean;
}

function checkTag(t: string): void {
  if (t.trim() === '') throw new SnapgovError('USAGE', 'empty tag', 'give every tag a name, for example prod or release-1.4');
  if (hasControl(t)) throw new SnapgovError('USAGE', `tag ${JSON.stringify(t)} holds a control character`, 'use printable characters only');
}

/**
 * Adds and removes tags and labels of an existing snapshot: they live in its metadata (the ID, the
 * manifest's hash, never changes). A tag REF names the newest snapshot with that tag, so --move
 * takes an added tag from every other snapshot; without it, a newer holder is reported.
 */
export async function tag(ref: string, add: string[], o: TagOptions, g: GlobalOptions): Promise<Outcome<TagResult>> {
  const remove = o.remove ?? [];
  for (const t of [...add, ...remove]) checkTag(t);
  const both = add.filter((t) => remove.includes(t));
  if (both.length) throw new SnapgovError('USAGE', `tag ${JSON.stringify(both[0])} is both added and removed`, 'give each tag once');
  const set = parseLabels(o.label ?? []);
  const unset = o.unlabel ?? [];
  for (const k of [...Object.keys(set), ...unset]) if (hasControl(k) || hasControl(set[k] ?? '')) throw new SnapgovError('USAGE', `label ${JSON.stringify(k)} holds a control character`, 'use printable characters only');
  if (!add.length && !remove.length && !Object.keys(set).length && !unset.length) {
    throw new SnapgovError('USAGE', 'nothing to change', 'snapgov tag REF TAG... [--remove TAG] [--label KEY=VALUE] [--unlabel KEY]');
  }
  const { layout } = await openStore(g);
  return withLock(g, layout, 'exclusive', 'tag', async (lock) => {
    const { snapshots } = await loadHistory(layout);
    const { id } = await resolveStoreRef(layout, ref, snapshots);
    const md = await readMetadata(layout, id);
    const added = [...new Set(add)].filter((t) => !md.tags.includes(t));
    const removed = remove.filter((t) => md.tags.includes(t));
    const labels = Object.assign(Object.create(null) as Record<string, string>, md.labels);
    const labelsSet = Object.keys(set).filter((k) => labels[k] !== set[k]);
    const labelsRemoved = unset.filter((k) => k in labels);
    for (const k of labelsSet) labels[k] = set[k]!;
    for (const k of labelsRemoved) delete labels[k];
    const tags = [...md.tags.filter((t) => !removed.includes(t)), ...added];
    const movedFrom: TagResult['movedFrom'] = [];
    if (o.move) {
      for (const s of snapshots) {
        const taken = s.id === id ? [] : (s.meta.tags ?? []).filter((t) => add.includes(t));
        if (taken.length) movedFrom.push({ id: s.id, tags: taken });
      }
    }
    const changed = added.length + removed.length + labelsSet.length + labelsRemoved.length + movedFrom.length > 0;
    if (changed) {
      lock.assertHeld();
      writeMetadata(layout, { ...md, tags, labels });
      for (const m of movedFrom) {
        const other = await readMetadata(layout, m.id);
        writeMetadata(layout, { ...other, tags: other.tags.filter((t) => !m.tags.includes(t)) });
      }
      await appendAudit(layout, { action: 'tag', to: id, outcome: 'success', details: { added, removed, labelsSet, labelsRemoved, ...(movedFrom.length ? { movedFrom } : {}) } });
    }
    // A tag REF names the newest holder (the history is oldest first): say so when that is another snapshot.
    const newer = snapshots.slice(snapshots.findIndex((s) => s.id === id) + 1);
    const shadowed = o.move ? [] : add.filter((t) => newer.some((s) => (s.meta.tags ?? []).includes(t)));
    const warnings = shadowed.map((t) => `a newer snapshot also has the tag ${t}, so the REF ${t} still names it; pass --move to take the tag from the others`);
    return outcome({ id, tags, labels, added, removed, labelsSet, labelsRemoved, movedFrom, changed }, renderTag, 0, warnings);
  });
}

function renderTag(r: TagResult, s: ChalkInstance): string {
  if (!r.changed) return `${s.bold(shortId(r.id))} unchanged`;
  const parts = [
    ...r.added.map((t) => `+${t}`),
    ...r.removed.map((t) => `-${t}`),
    ...r.labelsSet.map((k) => `${k}=${r.labels[k]}`),
    ...r.labelsRemoved.map((k) => `-${k}=`),
  ];
  const moved = r.movedFrom.map((m) => `\n  moved ${m.tags.join(', ')} from ${shortId(m.id)}`).join('');
  return `${s.bold(shortId(r.id))} ${parts.join(' ')}\n  tags: ${r.tags.join(', ') || '(none)'}${moved}`;
}
