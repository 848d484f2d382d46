import type { Problem } from '../core/index-check.js';
import { resolveRef, shortId } from '../core/ref.js';
import { SnapgovError } from '../errors.js';
import type { GlobalOptions } from '../output.js';
import { checkStructure, StructureMemo, type SnapshotCheck } from '../store/check.js';
import { attachDataFailures, DataPlan, readData } from './data.js';
import { ObjectIndex } from '../store/objects.js';
import { listSnapshotIds, loadHistory, readLive, resolveStoreRef } from '../store/snapshots.js';
import type { SignatureReport } from '../signing/signatures.js';
import type { TrustFlags } from '../signing/trust.js';
import { worktreeProblems } from './worktree.js';
import { withLock, type Store } from '../store/open.js';
import { progress } from '../util/progress.js';

export interface VerifyOptions extends TrustFlags {
  all?: boolean;
  readData?: boolean;
  worktree?: boolean;
}

export interface VerifyResult {
  ok: boolean;
  readData: boolean;
  worktree: boolean;
  /** Whether the trust threshold was required (--require-signature or trust.required). */
  signaturesRequired: boolean;
  snapshots: {
    id: string;
    ok: boolean;
    /** Structure (and data, live tree, with those options) without the signature checks: an integrity gate reads this. */
    integrity: boolean;
    problems: Problem[];
    signatures: SignatureReport[];
    trustSatisfied: boolean;
    /** Why the config's trust.required does not apply to this snapshot (snapgov's own safety snapshots). */
    trustExempt?: string;
  }[];
}

const SIGNATURE_CODES = new Set(['SIGNATURE_INVALID', 'TRUST_NOT_SATISFIED']);
const SAFETY_EXEMPT = 'a safety snapshot snapgov took before a rollback (trust.required covers what people release; --require-signature checks it too)';

async function selectIds(store: Store, refs: string[], opts: VerifyOptions): Promise<string[]> {
  if (opts.all) {
    if (refs.length) throw new SnapgovError('USAGE', 'give snapshot references or --all, not both', 'snapgov verify --all, or snapgov verify REF...');
    const ids = listSnapshotIds(store.layout).sort();
    if (ids.length === 0) throw new SnapgovError('REF_UNKNOWN', 'the store has no snapshots yet', 'create one with `snapgov create`');
    return ids;
  }
  const { snapshots } = await loadHistory(store.layout);
  const all = listSnapshotIds(store.layout);
  if (refs.length === 0) {
    // With --worktree, the natural reference is the snapshot the live tree is at.
    const live = opts.worktree ? await readLive(store.layout) : null;
    return [live?.id ?? resolveRef('latest', snapshots).id];
  }
  const ids: string[] = [];
  for (const r of refs) {
    // A full ID whose metadata is unreadable is still verifiable (and will be reported).
    const full = r.startsWith('sha256:') && r.length === 71 && all.includes(r);
    ids.push(full ? r : (await resolveStoreRef(store.layout, r, snapshots)).id);
  }
  return [...new Set(ids)];
}

async function checkWorktree(store: Store, c: SnapshotCheck): Promise<void> {
  if (!c.entries) return;
  c.problems.push(...(await worktreeProblems(store, c.entries)));
  c.ok = c.problems.length === 0;
}

const TRUST_FLAGS = ['key', 'certificateIdentity', 'certificateIdentityRegexp', 'certificateOidcIssuer', 'trustedRoot', 'requireSignature'] as const;

/** Signatures are checked only where there are some or the policy asks: the crypto libraries load only then. */
async function judgeSignatures(store: Store, checks: SnapshotCheck[], opts: VerifyOptions): Promise<VerifyResult['snapshots']> {
  const needed = store.ws.config.trust.required || TRUST_FLAGS.some((f) => opts[f] !== undefined) || checks.some((c) => c.signatures > 0);
  const sig = needed ? await import('../signing/signatures.js') : null;
  const trust = sig ? await (await import('../signing/trust.js')).loadTrust(store.ws, opts) : null;
  // Safety snapshots are unsigned by design; only an explicit flag holds them to the threshold.
  const safety = store.ws.config.trust.required && !opts.requireSignature ? new Set((await loadHistory(store.layout)).snapshots.filter((x) => x.meta.trigger === 'pre-rollback').map((x) => x.id)) : new Set<string>();
  const out: VerifyResult['snapshots'] = [];
  for (const c of checks) {
    const s = sig && trust ? await sig.signatureProblems(store.layout, c.id, trust) : { signatures: [], trustSatisfied: false, problems: [] };
    const exempt = safety.has(c.id);
    const problems = [...c.problems, ...(exempt ? s.problems.filter((p) => p.code !== 'TRUST_NOT_SATISFIED') : s.problems)];
    out.push({ id: c.id, ok: problems.length === 0, integrity: !c.problems.some((p) => !SIGNATURE_CODES.has(p.code)), problems, signatures: s.signatures, trustSatisfied: s.trustSatisfied, ...(exempt ? { trustExempt: SAFETY_EXEMPT } : {}) });
  }
  return out;
}

/** Structure, optionally data and the live tree, then signatures against the trust policy; the caller renders. */
export async function verifySnapshots(g: GlobalOptions, store: Store, refs: string[], opts: VerifyOptions): Promise<VerifyResult> {
  const ids = await selectIds(store, refs, opts);
  // A shared lock: verify runs beside other readers but never while prune deletes.
  const checks = await withLock(g, store.layout, 'shared', 'verify', async () => {
    const objects = ObjectIndex.load(store.layout, { fresh: true });
    const out: SnapshotCheck[] = [];
    // With --all every object is needed: the threads start re-reading while manifests are checked.
    const early = opts.readData && opts.all ? readData(store.layout, objects, DataPlan.everything(objects)) : null;
    early?.catch(() => undefined); // awaited below; keeps an early failure from being reported as unhandled
    const plan = new DataPlan(objects);
    // Only worth its memory when entries can repeat across snapshots.
    const memo = ids.length > 1 ? new StructureMemo() : undefined;
    for (const id of ids) {
      progress(`checking ${shortId(id)}…`, false);
      const c = await checkStructure(store.layout, id, objects, memo);
      if (opts.readData && !early && c.entries) plan.add(c.entries);
      // Keep entries only where the live tree is compared: memory holds at most two manifests (this one and the memo's).
      if (!opts.worktree) c.entries = null;
      out.push(c);
    }
    for (const c of out) {
      const packs = new Set(objects.damagedPacks.map((d) => d.message));
      if (c.problems.some((p) => p.code === 'OBJECT_MISSING') && packs.size) {
        for (const m of packs) c.problems.push({ code: 'PACK_DAMAGED', path: '', message: m });
      }
    }
    if (opts.readData) progress(`re-reading the data of ${ids.length} snapshot(s)…`);
    if (opts.readData) attachDataFailures(store.layout, out, objects, await (early ?? readData(store.layout, objects, plan)));
    return out;
  });
  if (opts.worktree) for (const c of checks) await checkWorktree(store, c);
  const snapshots = await judgeSignatures(store, checks, opts);
  const required = store.ws.config.trust.required || !!opts.requireSignature;
  return { ok: snapshots.every((s) => s.ok), readData: !!opts.readData, worktree: !!opts.worktree, signaturesRequired: required, snapshots };
}

