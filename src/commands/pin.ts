import type { ChalkInstance } from 'chalk';
import { shortId } from '../core/ref.js';
import { outcome, type GlobalOptions, type Outcome } from '../output.js';
import { appendAudit } from '../store/audit-log.js';
import { readMetadata, writeMetadata } from '../store/snapshots.js';
import { currentActor } from '../util/actor.js';
import { openStore, resolveSnapshot, withLock } from '../store/open.js';

export interface PinResult {
  id: string;
  pinned: boolean;
  /** False when the snapshot already was in the requested state (nothing written, nothing audited). */
  changed: boolean;
}

/** Pins live in the snapshot's metadata, so export/import and list carry them; every change is audited. */
async function setPin(ref: string, pin: boolean, reason: string | undefined, g: GlobalOptions): Promise<Outcome<PinResult>> {
  const { layout } = await openStore(g);
  return withLock(g, layout, 'exclusive', pin ? 'pin' : 'unpin', async (lock) => {
    const { id } = await resolveSnapshot(layout, ref);
    const md = await readMetadata(layout, id);
    const changed = pin !== !!md.pinned;
    if (changed) {
      lock.assertHeld();
      const { pinned: _old, ...rest } = md;
      writeMetadata(layout, pin ? { ...md, pinned: { time: new Date().toISOString(), user: currentActor().user, reason: reason ?? null } } : rest);
      await appendAudit(layout, { action: pin ? 'pin' : 'unpin', to: id, outcome: 'success', ...(reason ? { reason } : {}) });
    }
    return outcome({ id, pinned: pin, changed }, renderPin);
  });
}

export function pin(ref: string, opts: { reason?: string }, g: GlobalOptions): Promise<Outcome<PinResult>> {
  return setPin(ref, true, opts.reason, g);
}

export function unpin(ref: string, opts: { reason?: string }, g: GlobalOptions): Promise<Outcome<PinResult>> {
  return setPin(ref, false, opts.reason, g);
}

function renderPin(r: PinResult, s: ChalkInstance): string {
  const state = r.pinned ? 'pinned: prune never removes it' : 'unpinned: the retention rules apply again';
  return `${s.bold(shortId(r.id))} ${r.changed ? state : `was already ${r.pinned ? 'pinned' : 'unpinned'}`}`;
}
