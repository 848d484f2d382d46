import { diffEntries } from '../core/diff.js';
import type { Entry, FileEntry } from '../core/manifest.js';
import { planIsEmpty, planRollback, restoreTarget, withoutUnmanaged, type RollbackPlan } from '../core/rollback-plan.js';
import { shortId } from '../core/ref.js';
import { SnapgovError, toSnapgovError } from '../errors.js';
import { formatBytes } from '../output.js';
import { liveEntries } from '../scan/live.js';
import { managedPathTest } from '../scan/walk.js';
import { takeSnapshot } from '../snapshot/take.js';
import { appendAudit, REQUEST_ID } from '../store/audit-log.js';
import { checkStructure } from '../store/check.js';
import { DataPlan, readData, type DataFailures } from '../verify/data.js';
import type { StoreLock } from '../store/lock.js';
import { ObjectIndex } from '../store/objects.js';
import type { Store } from '../store/open.js';
import { loadHistory, loadManifest, readLive, resolveStoreRef, writeLive, type SnapshotRecord } from '../store/snapshots.js';
import { setInterruptNote } from '../util/cleanup.js';
import { progress } from '../util/progress.js';
import { boundedList } from '../util/text.js';
import { applyPlan, preflight, removeLeftoverTemps, TargetDamaged, type ApplyStats, type Preflight } from './apply.js';
import { outputTail, runGates, type GateResult } from './gates.js';
import { clearJournal, readJournal, writeJournal, type Journal } from '../store/journal.js';

// The rollback engine: choose and check the target, safety snapshot, journal, apply, verify,
// gates, live pointer, audit. `rollback`, `restore` and the rehearsal drive it.

export interface RollbackOptions {
  dryRun?: boolean;
  yes?: boolean;
  reason?: string;
  /** commander's --no-safety-snapshot sets this to false */
  safetySnapshot?: boolean;
  resume?: boolean;
  revertOnGateFailure?: boolean;
  allowUntrusted?: boolean;
}

export interface RollbackResult {
  dryRun: boolean;
  /** `snapgov restore`: the paths restored from the snapshot (absent for a whole-tree rollback). */
  paths?: string[];
  from: string | null;
  to: string;
  chosen: { id: string; why: string; rejected: { id: string; problems: string[] }[] };
  resumed: boolean;
  safetySnapshot: string | null;
  /** Time spent taking the safety snapshot (part of the rollback's duration). */
  safetySnapshotMs: number;
  plan: { write: number; link: number; chmod: number; remove: number; bytes: number; paths?: { write: string[]; link: string[]; chmod: string[]; remove: string[] } };
  /** Paths of the target that the current include/exclude rules do not manage: left alone, not restored. */
  excluded: string[];
  written: number;
  removed: number;
  modeChanged: number;
  bytesWritten: number;
  verified: boolean;
  drift: string[];
  /** A failed gate carries the last lines of its output. */
  gates: (Omit<GateResult, 'output'> & { outputTail?: string })[];
  reverted: boolean;
  durationMs: number;
  /** `rollback --env`: the tree was already at the pinned snapshot; nothing was written or recorded. */
  unchanged?: boolean;
}

function startResult(r: Pick<RollbackResult, 'dryRun' | 'from' | 'to' | 'chosen' | 'resumed' | 'safetySnapshot' | 'safetySnapshotMs' | 'plan' | 'excluded'> & { paths?: string[] }): RollbackResult {
  const { paths, ...rest } = r;
  return { ...rest, written: 0, removed: 0, modeChanged: 0, bytesWritten: 0, verified: false, drift: [], gates: [], reverted: false, durationMs: 0, ...(paths ? { paths } : {}) };
}

/**
 * With a required trust policy, why a snapshot's signatures do not satisfy it (null when they do,
 * or when no policy is required). The crypto libraries load only when a policy is required.
 */
async function untrustedBecause(store: Store, id: string): Promise<string | null> {
  if (!store.ws.config.trust.required) return null;
  const trust = await (await import('../signing/trust.js')).loadTrust(store.ws);
  const r = await (await import('../signing/signatures.js')).signatureProblems(store.layout, id, trust);
  return r.trustSatisfied ? null : r.problems.map((p) => p.message).join('; ') || 'no trusted signature';
}

/** No REF: the newest snapshot older than the one the live tree is at that passes the structural check and the trust policy (safety snapshots excluded). */
async function lastKnownGood(store: Store, objects: ObjectIndex, history: SnapshotRecord[]): Promise<RollbackResult['chosen']> {
  const { layout } = store;
  const live = await readLive(layout);
  if (!live) throw new SnapgovError('USAGE', 'no snapshot is recorded as live, so there is no "last known good" one to choose', 'name the snapshot: snapgov rollback REF (see snapgov list)');
  const liveAt = history.findIndex((s) => s.id === live.id);
  const older = (liveAt === -1 ? history : history.slice(0, liveAt)).slice().reverse();
  const rejected: { id: string; problems: string[] }[] = [];
  for (const s of older) {
    if (s.meta.trigger === 'pre-rollback') {
      // A safety snapshot records the state someone rolled away from: not a known-good one.
      rejected.push({ id: s.id, problems: ['safety snapshot taken before a rollback'] });
      continue;
    }
    // A snapshot recorded as missing files, or with an index that did not match its artifacts, was never good.
    const recorded = [...(s.meta.incomplete ? ['recorded as incomplete (files were skipped when it was taken)'] : []), ...(s.meta.index && !s.meta.index.consistent ? ['recorded with an inconsistent artifact index'] : [])];
    if (recorded.length) {
      rejected.push({ id: s.id, problems: recorded });
      continue;
    }
    const c = await checkStructure(layout, s.id, objects);
    const untrusted = c.ok ? await untrustedBecause(store, s.id) : null;
    if (c.ok && !untrusted) return { id: s.id, why: `the newest snapshot older than the live one (${shortId(live.id)}) that verifies${store.ws.config.trust.required ? ' and is trusted' : ''}`, rejected };
    rejected.push({ id: s.id, problems: untrusted ? [`untrusted: ${untrusted}`] : c.problems.slice(0, 5).map((p) => `${p.code} ${p.path}`) });
  }
  throw new SnapgovError('TARGET_INVALID', `no snapshot older than the live one (${shortId(live.id)}) verifies${rejected.length ? `: ${rejected.map((r) => shortId(r.id)).join(', ')} failed` : ' (there is none)'}`, 'name a snapshot explicitly: snapgov rollback REF', { rejected });
}

function summarize(p: RollbackPlan, withPaths: boolean): RollbackResult['plan'] {
  const out: RollbackResult['plan'] = { write: p.write.length, link: p.link.length, chmod: p.chmod.length, remove: p.remove.length, bytes: p.bytes };
  if (withPaths) out.paths = { write: p.write.map((e) => e.path), link: p.link.map((e) => e.path), chmod: p.chmod.map((e) => e.path), remove: p.remove.map((e) => e.path) };
  return out;
}

const DAMAGED_HINT = 'nothing was changed; run `snapgov verify --read-data` and roll back to another snapshot';

/**
 * Checks every object the plan will write — present and of the right size, and with `rehash`
 * re-read too: a damaged target is refused before anything changes. Without `rehash` the objects
 * are re-hashed as they are staged, before any file is replaced (see applyPlan). Objects of files
 * the live tree already has right are not needed, so they are not looked at (that is
 * `snapgov verify`'s job).
 */
async function verifyNeeded(store: Store, objects: ObjectIndex, plan: RollbackPlan, to: string, rehash: boolean): Promise<void> {
  let failures: DataFailures | null = null;
  if (rehash) {
    const need = new DataPlan(objects);
    need.add(plan.write);
    failures = await readData(store.layout, objects, need);
  }
  const damaged = (e: FileEntry) => failures !== null && (failures.objects.has(e.sha256) || (failures.packs.size > 0 && failures.packs.has(objects.packAt(objects.indexOf(e.sha256)) ?? '')));
  const bad = plan.write.filter((e) => objects.sizeOf(e.sha256) !== e.size || damaged(e));
  if (bad.length) {
    throw new SnapgovError('TARGET_INVALID', `snapshot ${shortId(to)} cannot be restored: ${bad.length} object(s) are missing or damaged, for example ${bad[0]!.path}`, DAMAGED_HINT, { paths: bad.map((e) => e.path) });
  }
}

/** Applies the plan from the live tree to `entries` and reports whether the tree now equals them. */
async function applyAndCheck(store: Store, objects: ObjectIndex, plan: RollbackPlan, target: readonly Entry[], pre: Preflight): Promise<{ stats: ApplyStats; drift: string[]; tree: Entry[] }> {
  removeLeftoverTemps(store.ws.root, [...plan.write, ...plan.link].map((e) => e.path));
  progress(`writing ${plan.write.length + plan.link.length} file(s) (${formatBytes(plan.bytes)}), removing ${plan.remove.length}…`);
  const stats = await applyPlan(store.ws.root, store.layout, objects, plan, pre);
  progress('verifying the live tree against the target…');
  const after = await liveEntries(store, { written: stats.records });
  const d = diffEntries(target, after.entries);
  const drift = [...d.added.map((p) => `+ ${p}`), ...d.removed.map((p) => `- ${p}`), ...d.modified.map((p) => `M ${p}`), ...after.skipped.map((s) => `? ${s.path}`)];
  return { stats, drift, tree: after.entries };
}

/** How a caller runs the engine: `rollback` and `restore` ask and run the gates; the rehearsal does neither (it times the gates as their own phase). */
export interface RollbackRun extends RollbackOptions {
  /** Restore only these paths (files, symlinks, folders) from the snapshot; the rest of the tree stays as it is. */
  paths?: string[];
  /** Asks on a terminal before anything is written; without it nothing is asked. */
  ask?: (question: string) => Promise<boolean>;
  gates: boolean;
  /** Do nothing (no safety snapshot, no audit line) when the live tree is already the target. */
  onlyIfChanged?: boolean;
}

/**
 * The whole rollback, under the caller's exclusive lock: choose and check the target, safety
 * snapshot, journal, apply, verify, gates, live pointer, audit. Used by `rollback` and `rehearse`.
 */
export async function executeRollback(store: Store, lock: StoreLock, ref: string | undefined, opts: RollbackRun): Promise<RollbackResult> {
  const { ws, layout } = store;
  let journal: Journal | null = null;
  try {
    journal = await readJournal(layout);
  } catch (e) {
    if (ref === undefined) throw e; // an explicit target replaces a damaged journal
  }
  if (opts.resume && !journal) throw new SnapgovError('USAGE', 'there is no interrupted rollback to resume', 'run snapgov rollback REF');
  const objects = ObjectIndex.load(layout);
  const { snapshots: history } = await loadHistory(layout);
  let chosen: RollbackResult['chosen'];
  const resumed = journal !== null && (opts.resume === true || ref === undefined);
  if (resumed) chosen = { id: journal!.to, why: `finishing the interrupted rollback started ${journal!.startedAt}`, rejected: [] };
  else if (ref !== undefined) chosen = { id: (await resolveStoreRef(layout, ref, history)).id, why: `named on the command line (${ref})`, rejected: [] };
  else chosen = await lastKnownGood(store, objects, history);
  const to = chosen.id;

  // The objects the plan needs are checked (and re-hashed) once the plan is known.
  const check = await checkStructure(layout, to, objects, undefined, { sizes: false });
  if (!check.ok || !check.entries) {
    throw new SnapgovError('TARGET_INVALID', `snapshot ${shortId(to)} fails verification: ${boundedList(check.problems.map((p) => `${p.code} ${p.path}`), 5)}`, 'nothing was changed; roll back to another snapshot (snapgov list, snapgov verify --all)', { problems: check.problems });
  }
  // Restoring single paths: the target is the live tree with those paths as the snapshot has them,
  // so plan, journal, apply, verification and --resume are the rollback's own.
  const fullTarget = check.entries;
  const paths = resumed ? journal!.paths : opts.paths;
  if (paths) {
    const { missing } = restoreTarget([], fullTarget, paths);
    if (missing.length) throw new SnapgovError('USAGE', `snapshot ${shortId(to)} holds no ${boundedList(missing, 5)}`, `nothing was changed; see what it holds: snapgov info ${shortId(to)} --json, or snapgov diff ${shortId(to)}`);
  }
  const targetFor = (tree: readonly Entry[]): readonly Entry[] => (paths ? restoreTarget(tree, fullTarget, paths).target : fullTarget);
  const untrusted = await untrustedBecause(store, to);
  if (untrusted && !opts.allowUntrusted) {
    throw new SnapgovError('TARGET_UNTRUSTED', `snapshot ${shortId(to)} does not satisfy the trust policy: ${untrusted}`, 'nothing was changed; sign it (snapgov sign), roll back to a trusted snapshot, or pass --allow-untrusted (recorded in the audit log)');
  }
  const live = await readLive(layout);
  const from = resumed ? journal!.from : (live?.id ?? null);

  // A host following a pin every minute: already there, nothing to do, nothing recorded.
  if (opts.onlyIfChanged && !resumed && !paths && live?.id === to) {
    const now = await liveEntries(store);
    const scoped = now.skipped.length ? null : withoutUnmanaged(planRollback(now.entries, fullTarget), fullTarget, managedPathTest(ws));
    if (scoped && planIsEmpty(scoped.plan)) return { ...startResult({ dryRun: false, from, to, chosen, resumed, safetySnapshot: null, safetySnapshotMs: 0, plan: summarize(scoped.plan, false), excluded: scoped.excluded }), verified: true, unchanged: true };
  }

  // On a terminal, ask before anything is written (the safety snapshot included).
  if (opts.ask && !opts.yes && !opts.dryRun) {
    const now = (await liveEntries(store)).entries;
    const wanted = targetFor(now);
    const preview = withoutUnmanaged(planRollback(now, wanted), wanted, managedPathTest(ws)).plan;
    const question = `${paths ? `Restore ${boundedList(paths, 3)} in ${ws.root} from` : `Roll back ${ws.root} to`} ${shortId(to)}: write ${preview.write.length + preview.link.length}, remove ${preview.remove.length}, re-mode ${preview.chmod.length} (${formatBytes(preview.bytes)}).`;
    if (!planIsEmpty(preview) && !(await opts.ask(question))) throw new SnapgovError('CANCELLED', `${paths ? 'restore' : 'rollback'} cancelled; nothing was changed`, 'answer y to go ahead, or pass --yes to skip the question');
  }

  // The live tree, read once: as the safety snapshot (which also stores its content) or, for a
  // dry run or without a safety snapshot, read-only. The safety snapshot saves the stat cache as
  // create does: after a restore wrote many files (too recently to cache), a host that only ever
  // rolls back would otherwise re-hash its whole tree every time.
  let safety: string | null = resumed ? journal!.safety : null;
  let safetySnapshotMs = 0;
  let liveTree: Entry[];
  if (!opts.dryRun && !resumed && opts.safetySnapshot !== false) {
    const protectedUntil = new Date(Date.now() + ws.config.rollback.safetyProtectionMs).toISOString();
    const t0 = performance.now();
    const s = await takeSnapshot(ws, layout, lock, { trigger: 'pre-rollback', message: `before the ${paths ? `restore of ${boundedList(paths, 3)} from` : 'rollback to'} ${shortId(to)}${opts.reason ? `: ${opts.reason}` : ''}`, allowInconsistentIndex: true, protectedUntil }, { objects });
    safety = s.id;
    liveTree = s.entries;
    safetySnapshotMs = Math.round(performance.now() - t0);
  } else {
    const t = await liveEntries(store);
    if (t.skipped.length) throw new SnapgovError('FILE_UNREADABLE', `${t.skipped.length} file(s) of the live tree cannot be read: ${boundedList(t.skipped.map((x) => x.path), 5)}`, 'fix the permissions (or exclude them) and run the rollback again; nothing was changed');
    liveTree = t.entries;
  }
  // A snapshot taken under other include/exclude rules: what the current config does not manage is
  // left alone, and the rollback plans, applies and verifies against the current file set.
  const wanted = targetFor(liveTree);
  const scoped = withoutUnmanaged(planRollback(liveTree, wanted), wanted, managedPathTest(ws));
  const { plan, target, excluded } = scoped;
  liveTree = []; // memory: the plan holds what is needed; the tree is scanned again to verify
  const result = startResult({ dryRun: !!opts.dryRun, from, to, chosen, resumed, safetySnapshot: safety, safetySnapshotMs, plan: summarize(plan, !!opts.dryRun), excluded, paths });
  const pre = preflight(ws.root, plan);
  // A dry run re-reads what it would write; so does a plan that must remove files before it can
  // write anything. Otherwise staging re-hashes each object before any file is replaced, and a
  // second full read beforehand would only double the cost of a large restore.
  await verifyNeeded(store, objects, plan, to, !!opts.dryRun || pre.removalsFirst);
  if (opts.dryRun) {
    result.verified = planIsEmpty(plan);
    return result;
  }

  lock.assertHeld();
  writeJournal(layout, { format: 'snapgov-rollback-journal/1', to, from, safety, reason: opts.reason ?? null, startedAt: new Date().toISOString(), requestId: REQUEST_ID, ...(paths ? { paths } : {}) });
  let applied: Awaited<ReturnType<typeof applyAndCheck>>;
  const undo = safety ? ` (or \`snapgov rollback ${shortId(safety)}\` to undo it)` : '';
  const noteDone = setInterruptNote(`the ${paths ? 'restore from' : 'rollback to'} ${shortId(to)} stopped part-way: every file is either old or new, and the journal is kept; run \`snapgov rollback --resume\` to finish it${undo} — it also removes the temporary files the rollback left in the live tree`);
  try {
    applied = await applyAndCheck(store, objects, plan, target, pre);
  } catch (e) {
    if (e instanceof TargetDamaged) {
      // Nothing of the live tree changed: refuse the target as if it had been re-read beforehand.
      clearJournal(layout);
      const path = plan.write.find((w) => w.sha256 === e.object.hash)?.path ?? e.object.hash;
      throw new SnapgovError('TARGET_INVALID', `snapshot ${shortId(to)} cannot be restored: an object it needs is damaged, for example ${path} (${e.message})`, DAMAGED_HINT, { paths: [path] });
    }
    const err = toSnapgovError(e);
    // The journal stays: the tree is between two snapshots and every command will say so.
    throw new SnapgovError(err.code, `rollback to ${shortId(to)} stopped part-way: ${err.message}`, `every file is either old or new; fix the cause, then run \`snapgov rollback --resume\`${safety ? ` (or \`snapgov rollback ${shortId(safety)}\` to undo)` : ''}`, undefined, { cause: e });
  }
  Object.assign(result, { written: applied.stats.written + applied.stats.linked, removed: applied.stats.removed, modeChanged: applied.stats.modeChanged, bytesWritten: applied.stats.bytesWritten });
  result.verified = applied.drift.length === 0;
  result.drift = applied.drift;
  const gates = result.verified && opts.gates ? await runGates(ws, applied.tree) : [];
  result.gates = gates.map(({ output, ...rest }) => (rest.ok ? rest : { ...rest, outputTail: outputTail(output) }));
  let finalId = to;
  if (result.verified && gates.some((x) => !x.ok) && opts.revertOnGateFailure && safety) {
    const back = loadManifest(layout, safety).entries;
    const undo = planRollback(applied.tree, back);
    // Loaded again: the safety snapshot committed objects (the live tree's own changes) after `objects` was read.
    applied = await applyAndCheck(store, ObjectIndex.load(layout), undo, back, preflight(ws.root, undo)).catch((e: unknown) => {
      if (!(e instanceof TargetDamaged)) throw e;
      throw new SnapgovError('STORE_CORRUPT', `a gate failed, and the safety snapshot ${shortId(safety)} cannot be restored: ${e.message}`, `the live tree is at ${shortId(to)} and the journal is kept; run \`snapgov verify --read-data\``);
    });
    result.reverted = applied.drift.length === 0;
    if (result.reverted) finalId = safety;
  }
  const outcomeOk = result.verified && gates.every((x) => x.ok);
  // After restoring single paths the tree is at no snapshot: the live pointer stays, and status shows what differs.
  if (result.verified && (!paths || result.reverted)) writeLive(layout, { id: finalId, since: new Date().toISOString(), action: result.reverted ? 'rollback-reverted' : 'rollback' });
  await appendAudit(layout, {
    action: paths ? 'restore' : 'rollback',
    ...(from ? { from } : {}),
    to,
    ...(opts.reason ? { reason: opts.reason } : {}),
    outcome: outcomeOk ? 'success' : 'failure',
    details: { ...(paths ? { paths: paths.slice(0, 100) } : {}), safetySnapshot: safety, resumed, ...(excluded.length ? { excluded: excluded.length } : {}), chosen: chosen.why, ...(untrusted ? { untrustedAllowed: untrusted } : {}), written: result.written, removed: result.removed, modeChanged: result.modeChanged, bytesWritten: result.bytesWritten, verified: result.verified, drift: result.drift.slice(0, 100), reverted: result.reverted, gates },
  });
  // The tree is in a known state (the target, verified, or the failure is on record): the journal's job is done.
  if (result.verified) clearJournal(layout);
  noteDone();
  return result;
}
