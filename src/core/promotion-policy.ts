// An environment's promotion policy, evaluated without I/O: statements already verified and their
// signers mapped to principals go in with the clock; a decision and every reason come out.

export type Intent = 'promote' | 'rollback';
export type Verdict = 'approve' | 'reject';

export interface Requirement {
  role: string;
  count: number;
}

export interface EnvironmentPolicy {
  name: string;
  /** Approvals needed, all of them (AND); each by a different principal. */
  requires: Requirement[];
  /** Approvals needed to move the pin back to an older snapshot. */
  rollbackRequires: Requirement[];
  /** An approval older than this no longer counts. */
  approvalMaxAgeMs: number | null;
  /** The environment a snapshot must have been pinned in first. */
  after: string | null;
  /** A passing rehearsal of the snapshot at most this old. */
  rehearsalMaxAgeMs: number | null;
}

/** An approval or rejection whose signature verified, with what it claims. */
export interface Approval {
  /** Where it is stored, to name it in reasons. */
  ref: string;
  /** The principal its signer belongs to; null when the signer is nobody the config names. */
  principal: string | null;
  signer: string;
  role: string;
  environment: string;
  snapshot: string;
  intent: Intent;
  verdict: Verdict;
  issuedAt: number;
  expiresAt: number | null;
}

export interface PolicyInput {
  policy: EnvironmentPolicy;
  snapshot: string;
  intent: Intent;
  now: number;
  /** Role → the principals who hold it. */
  roles: Readonly<Record<string, readonly string[]>>;
  /** Principals who signed the snapshot (its editors): they never approve it. */
  editors: readonly string[];
  /** The principal moving the pin, when promoting: never one of its approvers. */
  operator: string | null;
  approvals: readonly Approval[];
  /** Environments whose pin history holds the snapshot. */
  pinnedIn: readonly string[];
  /** Time of the newest passing rehearsal of the snapshot, if any. */
  rehearsedAt: number | null;
  /** When this environment was rolled back away from the snapshot: approvals before that no longer count. */
  heldBackSince: number | null;
}

export interface Failure {
  /** The last two come from promotion itself: the snapshot does not verify, or it is older than the pin without --rollback. */
  code: 'APPROVALS_MISSING' | 'REJECTED' | 'OPERATOR_IS_EDITOR' | 'PATH_SKIPPED' | 'REHEARSAL_MISSING' | 'REHEARSAL_TOO_OLD' | 'VERIFY_FAILED' | 'ROLLBACK_NOT_INTENDED';
  message: string;
}

export interface PolicyResult {
  /** allow: every condition holds; defer: only approvals are missing; deny: anything else failed. */
  decision: 'allow' | 'deny' | 'defer';
  failures: Failure[];
  /** Who fills each required slot. */
  slots: { role: string; principals: string[] }[];
  unmet: { role: string; need: number; have: number }[];
  /** The approvals that counted. */
  counted: string[];
  /** Approvals that did not count, and why. */
  ignored: { ref: string; why: string }[];
  /** When the decision stops holding: the earliest expiry among the approvals it rests on. */
  validUntil: number | null;
}

/** Clocks of different machines disagree a little; an approval from further ahead is refused. */
export const CLOCK_SKEW_MS = 5 * 60_000;

function whyIgnored(a: Approval, input: PolicyInput): string | null {
  const { policy, now } = input;
  if (a.principal === null) return `signed by ${a.signer}, who is no principal in snapgov.json`;
  if (a.environment !== policy.name) return `for the environment ${a.environment}, not ${policy.name}`;
  if (a.snapshot !== input.snapshot) return `for another snapshot (${a.snapshot})`;
  if (a.intent !== input.intent) return `approves a ${a.intent}, not a ${input.intent}`;
  if (!(input.roles[a.role] ?? []).includes(a.principal)) return `${a.principal} does not hold the role ${a.role}`;
  if (a.issuedAt > now + CLOCK_SKEW_MS) return `issued in the future (${new Date(a.issuedAt).toISOString()})`;
  if (a.expiresAt !== null && a.expiresAt <= now) return `expired at ${new Date(a.expiresAt).toISOString()}`;
  if (policy.approvalMaxAgeMs !== null && now - a.issuedAt > policy.approvalMaxAgeMs) return `older than the environment's approval limit (issued ${new Date(a.issuedAt).toISOString()})`;
  if (input.heldBackSince !== null && a.issuedAt < input.heldBackSince) return `given before ${policy.name} was rolled back away from this snapshot (${new Date(input.heldBackSince).toISOString()}); approve it again`;
  return null;
}

/**
 * Fills the slots so that each principal fills at most one: a small bipartite matching, tried
 * scarcest role first with backtracking (a handful of principals and slots).
 */
export function assignSlots(requires: readonly Requirement[], candidates: ReadonlyMap<string, ReadonlySet<string>>): Map<string, string[]> {
  const slots = requires.flatMap((r) => Array.from({ length: r.count }, () => r.role));
  const supply = (role: string) => [...candidates].filter(([, roles]) => roles.has(role)).length;
  slots.sort((a, b) => supply(a) - supply(b) || (a < b ? -1 : a > b ? 1 : 0));
  const people = [...candidates.keys()].sort();
  let best: (string | null)[] = slots.map(() => null);
  let bestFilled = -1;
  const chosen: (string | null)[] = [];
  const used = new Set<string>();
  const walk = (i: number, filled: number): boolean => {
    if (i === slots.length) {
      if (filled > bestFilled) [best, bestFilled] = [[...chosen], filled];
      return filled === slots.length;
    }
    if (filled + (slots.length - i) <= bestFilled) return false;
    for (const p of people) {
      if (used.has(p) || !candidates.get(p)!.has(slots[i]!)) continue;
      used.add(p);
      chosen.push(p);
      const done = walk(i + 1, filled + 1);
      chosen.pop();
      used.delete(p);
      if (done) return true;
    }
    chosen.push(null);
    const done = walk(i + 1, filled);
    chosen.pop();
    return done;
  };
  walk(0, 0);
  const out = new Map<string, string[]>(requires.map((r) => [r.role, []]));
  slots.forEach((role, i) => {
    if (best[i]) out.get(role)!.push(best[i]!);
  });
  return out;
}

export function evaluatePolicy(input: PolicyInput): PolicyResult {
  const { policy } = input;
  const ignored: PolicyResult['ignored'] = [];
  const live: Approval[] = [];
  for (const a of input.approvals) {
    const why = whyIgnored(a, input);
    if (why) ignored.push({ ref: a.ref, why });
    else live.push(a);
  }
  // The newest word of a principal in a role stands: a later rejection withdraws an approval, and the reverse.
  const key = (a: Approval) => `${a.principal}\n${a.role}`;
  const latest = new Map<string, Approval>();
  for (const a of live) {
    const seen = latest.get(key(a));
    if (!seen || a.issuedAt > seen.issuedAt || (a.issuedAt === seen.issuedAt && a.verdict === 'reject')) latest.set(key(a), a);
  }
  for (const a of live) if (latest.get(key(a)) !== a) ignored.push({ ref: a.ref, why: `superseded by a later ${latest.get(key(a))!.verdict} from ${a.principal} as ${a.role}` });
  const failures: Failure[] = [];
  const requires = input.intent === 'rollback' ? policy.rollbackRequires : policy.requires;
  const candidates = new Map<string, Set<string>>();
  for (const a of latest.values()) {
    if (a.verdict === 'reject') {
      failures.push({ code: 'REJECTED', message: `${a.principal} (${a.role}) rejected it: ${a.ref}` });
    } else if (input.editors.includes(a.principal!)) {
      ignored.push({ ref: a.ref, why: `${a.principal} signed the snapshot: no one approves their own snapshot` });
    } else if (a.principal === input.operator) {
      ignored.push({ ref: a.ref, why: `${a.principal} moves the pin: the operator does not approve their own promotion` });
    } else {
      if (!candidates.has(a.principal!)) candidates.set(a.principal!, new Set());
      candidates.get(a.principal!)!.add(a.role);
    }
  }
  // Editor ≠ operator: whoever signed the snapshot does not move an environment's pin to it either.
  if (input.operator !== null && input.editors.includes(input.operator)) failures.push({ code: 'OPERATOR_IS_EDITOR', message: `${input.operator} signed the snapshot and cannot also move ${policy.name}'s pin to it; another operator promotes it` });
  const assigned = assignSlots(requires, candidates);
  const slots = requires.map((r) => ({ role: r.role, principals: assigned.get(r.role) ?? [] }));
  const unmet = requires.map((r) => ({ role: r.role, need: r.count, have: (assigned.get(r.role) ?? []).length })).filter((u) => u.have < u.need);
  for (const u of unmet) failures.push({ code: 'APPROVALS_MISSING', message: `${u.need - u.have} more approval(s) by a distinct ${u.role} needed (${u.have} of ${u.need})` });
  const basis = slots.flatMap((s) => s.principals.map((p) => latest.get(`${p}\n${s.role}`)!));
  const counted = basis.map((a) => a.ref);
  if (input.intent === 'promote' && policy.after && !input.pinnedIn.includes(policy.after)) {
    failures.push({ code: 'PATH_SKIPPED', message: `${policy.name} takes only snapshots that were promoted to ${policy.after} first` });
  }
  if (input.intent === 'promote' && policy.rehearsalMaxAgeMs !== null) {
    if (input.rehearsedAt === null) failures.push({ code: 'REHEARSAL_MISSING', message: `${policy.name} needs a passing rehearsal of the snapshot (snapgov rehearse REF)` });
    else if (input.now - input.rehearsedAt > policy.rehearsalMaxAgeMs) failures.push({ code: 'REHEARSAL_TOO_OLD', message: `the newest passing rehearsal (${new Date(input.rehearsedAt).toISOString()}) is older than ${policy.name} allows` });
  }
  const decision = failures.length === 0 ? 'allow' : failures.every((f) => f.code === 'APPROVALS_MISSING') ? 'defer' : 'deny';
  const expiries = basis.flatMap((a) => [a.expiresAt, policy.approvalMaxAgeMs !== null ? a.issuedAt + policy.approvalMaxAgeMs : null]).filter((t): t is number => t !== null);
  return { decision, failures, slots, unmet, counted, ignored, validUntil: expiries.length ? Math.min(...expiries) : null };
}
