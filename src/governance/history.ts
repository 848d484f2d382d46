// Environment pin histories as they may be believed: checked against the audit log (TUF's
// rollback guard: the sequence never goes down, and a history cut back or edited on disk is
// refused). Kept apart from promotion so that status and info read pins without loading the
// signing libraries.
import { SnapgovError } from '../errors.js';
import { readAuditRecords } from '../store/audit-log.js';
import type { StoreLayout } from '../store/layout.js';
import { pinnedEnvironments, readPinHistory, type StoredPin } from '../store/pins.js';

/** What the environments' pin histories say about a snapshot, for the policy. */
export interface PinFacts {
  pinnedIn: string[];
  heldBackSince: number | null;
}

const PIN_ACTIONS = new Set(['promote', 'env-rollback', 'break-glass']);

/** The audit records of an environment's pins, by sequence number: the pin's digest. */
function recordedPins(layout: StoreLayout, env: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const r of readAuditRecords(layout)) {
    const d = r?.details as { env?: unknown; seq?: unknown; pin?: unknown } | undefined;
    if (r && PIN_ACTIONS.has(r.action) && d?.env === env && typeof d.seq === 'number' && typeof d.pin === 'string') out.set(d.seq, d.pin);
  }
  return out;
}

export interface EnvState {
  pins: StoredPin[];
  /** The last pin was written but its audit record was not (`snapgov env resume` appends it). */
  pendingAudit: boolean;
}

/** The history of an environment, refused when it does not match the audit log. */
export function environmentState(layout: StoreLayout, env: string): EnvState {
  const { pins, problems } = readPinHistory(layout, env);
  const refuse = (why: string) => new SnapgovError('STORE_CORRUPT', `the pin history of ${env} cannot be trusted: ${why}`, 'nothing was changed; run `snapgov audit verify` and restore metadata/envs from a backup');
  if (problems.length) throw refuse(problems[0]!);
  const recorded = recordedPins(layout, env);
  const highest = Math.max(0, ...recorded.keys());
  if (highest > pins.length) throw refuse(`the audit log records pin ${highest}, the history ends at ${pins.length} (cut back on disk)`);
  for (const p of pins) {
    const r = recorded.get(p.entry.seq);
    if (r === undefined && p.entry.seq === pins.length) return { pins, pendingAudit: true };
    if (r === undefined) throw refuse(`pin ${p.entry.seq} has no audit record`);
    if (r !== p.digest) throw refuse(`pin ${p.entry.seq} is not the one the audit log records (edited on disk)`);
  }
  return { pins, pendingAudit: false };
}

/** Which environments had pinned the snapshot before a moment (default: now), and when this one was last rolled back away from it. */
export function pinFacts(layout: StoreLayout, id: string, env: string, before = Infinity): PinFacts {
  // Every history is checked against the audit log: a forged staging history must not open the path to production.
  // A pin still pending audit does not count: nothing but its own file vouches for it yet.
  const audited = (e: string) => {
    const st = environmentState(layout, e);
    return (st.pendingAudit ? st.pins.slice(0, -1) : st.pins).filter((p) => Date.parse(p.entry.time) < before);
  };
  const pinnedIn = pinnedEnvironments(layout).filter((e) => audited(e).some((p) => p.entry.snapshot === id));
  let heldBackSince: number | null = null;
  for (const p of audited(env)) {
    if (p.entry.intent === 'rollback' && p.entry.previous === id) heldBackSince = Date.parse(p.entry.time);
    else if (p.entry.snapshot === id) heldBackSince = null;
  }
  return { pinnedIn, heldBackSince };
}

export interface SnapshotPins {
  /** Environments whose current pin is the snapshot. */
  pinnedIn: string[];
  /** Environments that pinned it earlier and have moved on. */
  pinnedBefore: string[];
  /** Environments whose history does not match the audit log (not read further). */
  untrusted: string[];
}

/** Where a snapshot is pinned, for status and info: a history that cannot be trusted is named, not believed. */
export function snapshotPins(layout: StoreLayout, id: string): SnapshotPins {
  const out: SnapshotPins = { pinnedIn: [], pinnedBefore: [], untrusted: [] };
  for (const env of pinnedEnvironments(layout)) {
    let pins: StoredPin[];
    try {
      pins = environmentState(layout, env).pins;
    } catch (e) {
      if (!(e instanceof SnapgovError)) throw e;
      out.untrusted.push(env);
      continue;
    }
    if (pins.at(-1)?.entry.snapshot === id) out.pinnedIn.push(env);
    else if (pins.some((p) => p.entry.snapshot === id)) out.pinnedBefore.push(env);
  }
  return out;
}

