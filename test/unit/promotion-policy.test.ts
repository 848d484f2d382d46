import { describe, expect, it } from 'vitest';
import { assignSlots, evaluatePolicy, type Approval, type EnvironmentPolicy, type PolicyInput } from '../../src/core/promotion-policy.js';
import { decodeBase64, openStatement, pae, parseEnvelope, statement, IN_TOTO_PAYLOAD_TYPE } from '../../src/core/dsse.js';

const S = `sha256:${'a'.repeat(64)}`;
const OTHER = `sha256:${'b'.repeat(64)}`;
const NOW = Date.parse('2026-12-03T12:00:00Z');
const H = 3_600_000;

const production: EnvironmentPolicy = {
  name: 'production',
  requires: [{ role: 'reviewer', count: 1 }, { role: 'approver', count: 1 }],
  rollbackRequires: [{ role: 'approver', count: 1 }],
  approvalMaxAgeMs: 72 * H,
  after: 'staging',
  rehearsalMaxAgeMs: null,
};

const roles = { editor: ['eve'], reviewer: ['rita', 'bob'], approver: ['bob', 'anna'], operator: ['ci'] };

function approval(principal: string | null, role: string, over: Partial<Approval> = {}): Approval {
  return { ref: `${principal}-${role}-${over.verdict ?? 'approve'}-${over.issuedAt ?? 0}`, principal, signer: `key-of-${principal}`, role, environment: 'production', snapshot: S, intent: 'promote', verdict: 'approve', issuedAt: NOW - H, expiresAt: null, ...over };
}

function input(approvals: Approval[], over: Partial<PolicyInput> = {}): PolicyInput {
  return { policy: production, snapshot: S, intent: 'promote', now: NOW, roles, editors: ['eve'], operator: null, approvals, pinnedIn: ['staging'], rehearsedAt: null, heldBackSince: null, ...over };
}

describe('promotion policy', () => {
  it.each<[string, Approval[], Partial<PolicyInput>, 'allow' | 'deny' | 'defer', string[]]>([
    ['a reviewer and an approver', [approval('rita', 'reviewer'), approval('anna', 'approver')], {}, 'allow', []],
    ['one person in two slots counts once', [approval('bob', 'reviewer'), approval('bob', 'approver')], {}, 'defer', ['APPROVALS_MISSING']],
    ['bob as reviewer and anna as approver: bob is placed where he is needed', [approval('bob', 'reviewer'), approval('bob', 'approver'), approval('anna', 'approver')], {}, 'allow', []],
    ['nobody yet', [], {}, 'defer', ['APPROVALS_MISSING', 'APPROVALS_MISSING']],
    ['a role the signer does not hold', [approval('rita', 'reviewer'), approval('rita', 'approver')], {}, 'defer', ['APPROVALS_MISSING']],
    ['an unknown signer', [approval('rita', 'reviewer'), approval(null, 'approver')], {}, 'defer', ['APPROVALS_MISSING']],
    ['the editor approving their own snapshot', [approval('rita', 'reviewer'), approval('anna', 'approver')], { editors: ['anna'] }, 'defer', ['APPROVALS_MISSING']],
    ['an approval for staging replayed', [approval('rita', 'reviewer'), approval('anna', 'approver', { environment: 'staging' })], {}, 'defer', ['APPROVALS_MISSING']],
    ['an approval for another snapshot', [approval('rita', 'reviewer'), approval('anna', 'approver', { snapshot: OTHER })], {}, 'defer', ['APPROVALS_MISSING']],
    ['an expired approval', [approval('rita', 'reviewer'), approval('anna', 'approver', { expiresAt: NOW - 1 })], {}, 'defer', ['APPROVALS_MISSING']],
    ['an approval older than the limit', [approval('rita', 'reviewer'), approval('anna', 'approver', { issuedAt: NOW - 73 * H })], {}, 'defer', ['APPROVALS_MISSING']],
    ['an approval from the future', [approval('rita', 'reviewer'), approval('anna', 'approver', { issuedAt: NOW + H })], {}, 'defer', ['APPROVALS_MISSING']],
    ['a later rejection', [approval('rita', 'reviewer'), approval('anna', 'approver'), approval('anna', 'approver', { verdict: 'reject', issuedAt: NOW - 1000 })], {}, 'deny', ['REJECTED', 'APPROVALS_MISSING']],
    ['a rejection withdrawn by a later approval', [approval('rita', 'reviewer'), approval('anna', 'approver', { verdict: 'reject', issuedAt: NOW - 2 * H }), approval('anna', 'approver')], {}, 'allow', []],
    ['the operator approving their own promotion', [approval('rita', 'reviewer'), approval('anna', 'approver')], { operator: 'anna' }, 'defer', ['APPROVALS_MISSING']],
    ['the editor moving the pin to their own snapshot', [approval('rita', 'reviewer'), approval('anna', 'approver')], { operator: 'eve' }, 'deny', ['OPERATOR_IS_EDITOR']],
    ['skipping staging', [approval('rita', 'reviewer'), approval('anna', 'approver')], { pinnedIn: [] }, 'deny', ['PATH_SKIPPED']],
    ['approvals from before a rollback away from it', [approval('rita', 'reviewer'), approval('anna', 'approver')], { heldBackSince: NOW - 30 * 60_000 }, 'defer', ['APPROVALS_MISSING', 'APPROVALS_MISSING']],
    ['a rollback needs its own approval', [approval('rita', 'reviewer'), approval('anna', 'approver')], { intent: 'rollback' }, 'defer', ['APPROVALS_MISSING']],
    ['a rollback approved as a rollback', [approval('anna', 'approver', { intent: 'rollback' })], { intent: 'rollback', pinnedIn: [] }, 'allow', []],
  ])('%s', (_name, approvals, over, decision, codes) => {
    const r = evaluatePolicy(input(approvals, over));
    expect(r.decision).toBe(decision);
    expect(r.failures.map((f) => f.code)).toEqual(codes);
    if (decision === 'allow') expect(r.unmet).toEqual([]);
  });

  it('names why each approval did not count, and counts each principal once', () => {
    const r = evaluatePolicy(input([approval('bob', 'reviewer'), approval('bob', 'approver'), approval('anna', 'approver', { environment: 'staging' })]));
    expect(r.slots.flatMap((s) => s.principals)).toEqual(['bob']);
    expect(r.ignored).toEqual([{ ref: expect.stringContaining('anna'), why: 'for the environment staging, not production' }]);
    expect(r.unmet).toHaveLength(1);
  });

  it('is valid until the earliest expiry of what it rests on', () => {
    const r = evaluatePolicy(input([approval('rita', 'reviewer', { expiresAt: NOW + H }), approval('anna', 'approver', { issuedAt: NOW - 70 * H })]));
    expect(r.decision).toBe('allow');
    expect(r.validUntil).toBe(NOW + H);
  });

  it('asks for a recent passing rehearsal when the environment does', () => {
    const p = { ...production, rehearsalMaxAgeMs: 24 * H };
    const base = [approval('rita', 'reviewer'), approval('anna', 'approver')];
    expect(evaluatePolicy(input(base, { policy: p })).failures.map((f) => f.code)).toEqual(['REHEARSAL_MISSING']);
    expect(evaluatePolicy(input(base, { policy: p, rehearsedAt: NOW - 25 * H })).failures.map((f) => f.code)).toEqual(['REHEARSAL_TOO_OLD']);
    expect(evaluatePolicy(input(base, { policy: p, rehearsedAt: NOW - H })).decision).toBe('allow');
  });

  it.each<[string, [string, string[]][], [string, number][], number]>([
    ['scarce role first', [['a', ['reviewer', 'approver']], ['b', ['approver']]], [['reviewer', 1], ['approver', 1]], 2],
    ['two approvers from three', [['a', ['approver']], ['b', ['approver']], ['c', ['approver']]], [['approver', 2]], 2],
    ['not enough people', [['a', ['reviewer', 'approver']]], [['reviewer', 1], ['approver', 1]], 1],
    ['backtracking', [['a', ['x', 'y']], ['b', ['x', 'z']], ['c', ['x']]], [['y', 1], ['z', 1], ['x', 1]], 3],
  ])('slot assignment: %s', (_n, people, requires, filled) => {
    const m = assignSlots(requires.map(([role, count]) => ({ role, count })), new Map(people.map(([p, r]) => [p, new Set(r)])));
    const all = [...m.values()].flat();
    expect(all).toHaveLength(filled);
    expect(new Set(all).size).toBe(all.length);
  });
});

describe('DSSE', () => {
  it('encodes the pre-authentication bytes as the spec does', () => {
    expect(pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString()).toBe('DSSEv1 29 http://example.com/HelloWorld 11 hello world');
    expect(pae('t', Buffer.from('é')).toString()).toBe('DSSEv1 1 t 2 é');
  });

  it.each([
    ['aGk=', 'hi'],
    ['aGk', 'hi'],
    ['-_8', Buffer.from([0xfb, 0xff]).toString()],
    ['a', null],
    ['aGk=\n', null],
    ['a b', null],
  ])('decodes base64 %j strictly', (text, want) => {
    const got = decodeBase64(text);
    expect(got === null ? null : got.toString()).toBe(want);
  });

  const envelopeOf = (doc: unknown, payloadType = IN_TOTO_PAYLOAD_TYPE) => ({ payloadType, payload: Buffer.from(JSON.stringify(doc)).toString('base64'), signatures: [{ sig: 'AA==' }] });
  const want = { predicateType: 'https://snapgov.dev/attestation/approval/v1', subject: S };

  it.each<[string, unknown, string | null]>([
    ['a statement about the snapshot', statement(S, want.predicateType, { role: 'approver' }), null],
    ['another predicate type', statement(S, 'https://snapgov.dev/attestation/other/v1', {}), 'predicate type'],
    ['another subject', statement(OTHER, want.predicateType, {}), 'is about'],
    ['two subjects', { ...statement(S, want.predicateType, {}), subject: [{ name: S, digest: { sha256: 'a'.repeat(64) } }, { name: OTHER, digest: { sha256: 'b'.repeat(64) } }] }, 'exactly one subject'],
    ['not a statement', { _type: 'https://in-toto.io/Statement/v0.1', predicateType: want.predicateType, subject: [], predicate: {} }, 'not an in-toto Statement v1'],
    ['no predicate', { ...statement(S, want.predicateType, {}), predicate: 'x' }, 'no predicate'],
  ])('opens %s only when it is what was asked for', (_n, doc, problem) => {
    const r = openStatement(envelopeOf(doc), want);
    if (problem === null) expect('statement' in r).toBe(true);
    else expect('problem' in r && r.problem).toContain(problem);
  });

  it('refuses another payload type and envelopes that are not one signer', () => {
    expect(openStatement(envelopeOf(statement(S, want.predicateType, {}), 'application/json'), want)).toMatchObject({ problem: expect.stringContaining('payload type') });
    expect(parseEnvelope('{"payloadType":"x","payload":"","signatures":[]}')).toContain('0 signatures');
    expect(parseEnvelope('[]')).toContain('not a DSSE envelope');
    expect(parseEnvelope('{')).toContain('not JSON');
  });
});
