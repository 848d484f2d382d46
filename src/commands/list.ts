import type { ChalkInstance } from 'chalk';
import { shortId } from '../core/ref.js';
import { formatBytes, outcome, type GlobalOptions, type Outcome } from '../output.js';
import { loadHistory } from '../store/snapshots.js';
import { openStore } from '../store/open.js';

export interface ListItem {
  id: string;
  time: string;
  trigger: string;
  env: string | null;
  tags: string[];
  labels: Record<string, string>;
  message: string | null;
  files: number;
  bytes: number;
  incomplete: boolean;
  signatures: number;
  pinned: boolean;
  protectedUntil: string | null;
}

export interface ListResult {
  snapshots: ListItem[];
  unreadable: { id: string; message: string }[];
}

export async function list(_opts: object, g: GlobalOptions): Promise<Outcome<ListResult>> {
  const { layout } = await openStore(g);
  const { snapshots, broken } = await loadHistory(layout);
  const items: ListItem[] = snapshots.reverse().map(({ meta: m }) => ({
    id: m.id,
    time: m.time,
    trigger: m.trigger,
    env: m.env,
    tags: m.tags,
    labels: m.labels,
    message: m.message,
    files: m.stats.files,
    bytes: m.stats.bytes,
    incomplete: m.incomplete,
    signatures: m.signatures.length,
    pinned: !!m.pinned,
    protectedUntil: m.protectedUntil ?? null,
  }));
  const warnings = broken.map((b) => `${b.message} (run snapgov verify --all)`);
  return outcome({ snapshots: items, unreadable: broken }, renderList, 0, warnings);
}

function renderList(r: ListResult, s: ChalkInstance): string {
  if (r.snapshots.length === 0) return 'no snapshots yet (snapgov create takes the first one)';
  const rows = r.snapshots.map((x) => {
    const tags = x.tags.length ? ` [${x.tags.join(', ')}]` : '';
    const env = x.env ? ` env=${x.env}` : '';
    const inc = (x.incomplete ? s.yellow(' incomplete') : '') + (x.pinned ? s.cyan(' pinned') : '');
    return `${s.bold(shortId(x.id))}  ${x.time}  ${x.trigger.padEnd(12)} ${String(x.files).padStart(7)} files ${formatBytes(x.bytes).padStart(10)}${env}${tags}${inc}${x.message ? `  ${s.dim(x.message)}` : ''}`;
  });
  return [s.dim('ID            TIME                      TRIGGER        FILES       SIZE'), ...rows].join('\n');
}
