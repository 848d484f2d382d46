// `audit verify --decisions`: every past promotion judged again, offline, from what is on disk: the
// decision must verify as signed by the pin's principal and be about that transition; the approvals
// it names must be there, unchanged; and the policy, evaluated at the decision's own time over the
// statements and pins that existed then, must still allow it.
import type { Workspace } from '../config/config.js';
import type { Intent } from '../core/promotion-policy.js';
import { SnapgovError } from '../errors.js';
import type { StoreLayout } from '../store/layout.js';
import { pinnedEnvironments } from '../store/pins.js';
import { evaluate, loadPrincipals, readApprovals } from './approvals.js';
import { environmentState, pinFacts } from './history.js';
import { checkPinDecision, policyDigest } from './pins.js';

export interface DecisionReview {
  environment: string;
  seq: number;
  snapshot: string;
  decision: string | null;
  breakGlass: boolean;
  /** The config's policy for the environment is not the one the decision names: only signature and inputs were checked. */
  policyChanged: boolean;
  ok: boolean;
  problems: string[];
}

interface DecisionPredicate {
  decidedAt?: unknown;
  promotionType?: unknown;
  breakGlass?: unknown;
  operator?: unknown;
  policy?: { digest?: { sha256?: unknown } };
  inputs?: { name?: unknown; digest?: { sha256?: unknown } }[];
}

export async function reviewDecisions(ws: Workspace, layout: StoreLayout): Promise<DecisionReview[]> {
  const principals = await loadPrincipals(ws);
  const approvalsOf = new Map<string, ReturnType<typeof readApprovals>>();
  const out: DecisionReview[] = [];
  for (const env of pinnedEnvironments(layout)) {
    let pins;
    try {
      pins = environmentState(layout, env).pins;
    } catch (e) {
      if (!(e instanceof SnapgovError)) throw e;
      out.push({ environment: env, seq: 0, snapshot: '', decision: null, breakGlass: false, policyChanged: false, ok: false, problems: [e.message] });
      continue;
    }
    for (const pin of pins) {
      const e = pin.entry;
      const review: DecisionReview = { environment: env, seq: e.seq, snapshot: e.snapshot, decision: e.decision, breakGlass: e.breakGlass, policyChanged: false, ok: true, problems: [] };
      out.push(review);
      const problem = (m: string) => {
        review.ok = false;
        review.problems.push(m);
      };
      let p: DecisionPredicate;
      try {
        p = (await checkPinDecision(ws, layout, pin, principals)) as DecisionPredicate;
      } catch (err) {
        if (!(err instanceof SnapgovError)) throw err;
        problem(err.message);
        continue;
      }
      const at = typeof p.decidedAt === 'string' ? Date.parse(p.decidedAt) : NaN;
      if (Number.isNaN(at) || p.promotionType !== e.intent || p.breakGlass !== e.breakGlass || p.operator !== e.principal) {
        problem('the decision does not say what its pin says (time, promotion type, break-glass or operator)');
        continue;
      }
      if (!ws.config.environments[env]) {
        problem(`${env} is no longer an environment in snapgov.json: its policy cannot be evaluated`);
        continue;
      }
      // Read and verified once per snapshot, however many pins name it.
      let pending = approvalsOf.get(e.snapshot);
      if (!pending) approvalsOf.set(e.snapshot, (pending = readApprovals(layout, e.snapshot, principals)));
      const found = await pending;
      // Each input as it is stored now: present, verified, the bytes the decision hashed.
      const inputs = Array.isArray(p.inputs) ? p.inputs : [];
      for (const i of inputs) {
        const s = found.statements.find((x) => x.file === i.name);
        if (!s) problem(`the approval ${String(i.name)} the decision rests on is missing`);
        else if (s.digest !== `sha256:${String(i.digest?.sha256)}`) problem(`the approval ${s.file} is not the one the decision rests on`);
        else if (!s.valid) problem(`the approval ${s.file} no longer counts: ${s.problem}`);
      }
      if (e.breakGlass) {
        if (!ws.config.environments[env]!.breakGlass.includes(e.principal)) problem(`${e.principal} broke glass but is not in ${env}'s breakGlass list`);
        continue;
      }
      review.policyChanged = p.policy?.digest?.sha256 !== policyDigest(ws, env);
      if (review.policyChanged) continue;
      // What the policy saw then: the statements issued by that moment, the pins made before it.
      const then = { ...found, approvals: found.approvals.filter((a) => a.issuedAt <= at) };
      const judged = evaluate(ws, layout, e.snapshot, env, e.intent as Intent, then, pinFacts(layout, e.snapshot, env, at), e.principal, at);
      for (const f of judged.failures) problem(`evaluated again at ${new Date(at).toISOString()}: ${f.code} ${f.message}`);
      const named = new Set(inputs.map((i) => i.name));
      for (const c of judged.counted) if (!named.has(c)) problem(`the approval ${c} would count but the decision does not name it`);
    }
  }
  return out;
}
