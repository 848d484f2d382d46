import { describe, expect, it } from 'vitest';
import { identityRule, identityTrusted } from '../../src/signing/trust.js';
import { trustSatisfied, type SignatureReport } from '../../src/signing/signatures.js';

const ISS = 'https://token.actions.githubusercontent.com';

describe('keyless identity rules', () => {
  it.each([
    [{ identity: 'bot@x' }, 'bot@x', ISS, true],
    [{ identity: 'bot@x' }, 'ci-bot@x.example', ISS, false],
    [{ identity: 'bot@x' }, 'bot@x.example', ISS, false],
    [{ identity: 'bot@x' }, 'xbot@x', ISS, false],
    [{ identity: 'a.b@x' }, 'aXb@x', ISS, false], // dots in an exact identity are literal
    [{ identity: 'bot@x' }, 'bot@x', `${ISS}/`, false], // the issuer is exact too
    [{ identityRegexp: '.*@x\\.example' }, 'ci-bot@x.example', ISS, true],
    [{ identityRegexp: 'bot@x' }, 'ci-bot@x.example', ISS, false], // anchored at both ends
    [{ identityRegexp: 'https://github\\.com/acme/.*' }, 'https://github.com/acme/deploy/.github/workflows/release.yml@refs/heads/main', ISS, true],
    [{ identityRegexp: 'https://github\\.com/acme/.*' }, 'https://github.com/evil/acme/x', ISS, false],
    [{ identityRegexp: 'a|b' }, 'ab', ISS, false], // alternation stays inside the anchors
  ])('%j against %s (%s) -> %s', (rule, identity, issuer, want) => {
    expect(identityTrusted([identityRule({ ...rule, issuer: ISS })], identity, issuer)).toBe(want);
  });

  it('no identity or issuer is never trusted', () => {
    const rules = [identityRule({ identityRegexp: '.*', issuer: ISS })];
    expect(identityTrusted(rules, null, ISS)).toBe(false);
    expect(identityTrusted(rules, 'x', null)).toBe(false);
    expect(identityTrusted([], 'x', ISS)).toBe(false);
  });
});

describe('trust threshold', () => {
  const r = (signer: string, trusted: boolean, type: 'pgp' | 'sigstore' = 'pgp'): SignatureReport => ({ type, method: type === 'pgp' ? 'pgp' : 'key', signer, valid: trusted, trusted, reason: '' });
  it.each([
    [[], 1, false],
    [[r('A', true)], 1, true],
    [[r('A', false)], 1, false],
    [[r('A', true), r('A', true)], 2, false], // one key counts once
    [[r('A', true), r('B', true)], 2, true],
    [[r('A', true), r('A', true, 'sigstore')], 2, true], // different key types are different signers
    [[r('A', true), r('B', false)], 2, false],
  ])('%j with threshold %i -> %s', (reports, threshold, want) => {
    expect(trustSatisfied(reports, threshold)).toBe(want);
  });
});
