import { readdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { Key } from 'openpgp';
import { FINGERPRINT_ENTRY as FINGERPRINT, type TrustConfig, type Workspace } from '../config/config.js';
import { SnapgovError } from '../errors.js';
import { pgpFingerprint, readPublicKeys } from './pgp.js';
import { keyHint, readSigstorePublicKey } from './sigstore.js';

export interface IdentityRule {
  /** Anchored pattern: an exact identity is escaped, so `bot@x` never matches `ci-bot@x.example`. */
  pattern: RegExp;
  issuer: string;
  text: string;
}

/** Everything verify needs to judge signatures, loaded once per run. */
export interface TrustSet {
  pgp: Key[];
  sigstore: KeyObject[];
  identities: IdentityRule[];
  trustedRoot: unknown;
  trustedRootError: string | null;
  threshold: number;
  required: boolean;
}

/** What the command line adds for one run (cosign's flags where they overlap). */
export interface TrustFlags {
  key?: string[];
  certificateIdentity?: string;
  certificateIdentityRegexp?: string;
  certificateOidcIssuer?: string;
  trustedRoot?: string;
  requireSignature?: boolean;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function identityRule(rule: { identity?: string; identityRegexp?: string; issuer: string }): IdentityRule {
  const body = rule.identity !== undefined ? escapeRegExp(rule.identity) : rule.identityRegexp!;
  return { pattern: new RegExp(`^(?:${body})$`), issuer: rule.issuer, text: rule.identity ?? `/${rule.identityRegexp}/` };
}

export function identityTrusted(rules: readonly IdentityRule[], identity: string | null, issuer: string | null): boolean {
  return identity !== null && issuer !== null && rules.some((r) => r.issuer === issuer && r.pattern.test(identity));
}

function readText(root: string, path: string, what: string): string {
  const abs = isAbsolute(path) ? path : join(root, path);
  try {
    return readFileSync(abs, 'utf8');
  } catch (e) {
    throw new SnapgovError('KEY_ERROR', `${what} ${path} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'fix the path in snapgov.json "trust" or the flag');
  }
}

/** A key file given with --key: an armored OpenPGP key or a PEM public key. */
async function addKeyFile(set: TrustSet, root: string, path: string): Promise<void> {
  const text = readText(root, path, 'key file');
  if (text.includes('-----BEGIN PGP')) set.pgp.push(...(await readPublicKeys(text, path)));
  else set.sigstore.push(readSigstorePublicKey(text, path));
}

/** OpenPGP public keys named by file or by fingerprint (found in the trust policy's key folder). */
async function pgpKeysFrom(ws: Workspace, trust: Pick<TrustConfig, 'pgpKeys' | 'keyDir'>, what: string): Promise<Key[]> {
  const out: Key[] = [];
  const wanted = trust.pgpKeys.filter((k) => FINGERPRINT.test(k)).map((k) => k.toUpperCase());
  for (const path of trust.pgpKeys.filter((k) => !FINGERPRINT.test(k))) out.push(...(await readPublicKeys(readText(ws.root, path, what), path)));
  if (wanted.length > 0) {
    const dir = isAbsolute(trust.keyDir) ? trust.keyDir : join(ws.root, trust.keyDir);
    const found: Key[] = [];
    let names: string[] = [];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith('.asc') || n.endsWith('.gpg') || n.endsWith('.pub'));
    } catch {
      // reported below as missing fingerprints
    }
    for (const n of names) {
      try {
        found.push(...(await readPublicKeys(readFileSync(join(dir, n), 'utf8'), n)));
      } catch {
        // not a key: other files may live in the key folder
      }
    }
    for (const fpr of wanted) {
      const k = found.find((x) => pgpFingerprint(x) === fpr);
      if (!k) throw new SnapgovError('KEY_ERROR', `${what} ${fpr} is not in the key folder ${trust.keyDir}`, `put its armored public key (gpg --export --armor ${fpr}) into ${trust.keyDir}/`);
      out.push(k);
    }
  }
  return out;
}

/** The public keys a config section names (a principal's, or the trust policy's). */
export async function loadPublicKeys(ws: Workspace, keys: { pgpKeys: string[]; sigstoreKeys: string[] }, what = 'trusted key'): Promise<{ pgp: Key[]; sigstore: KeyObject[] }> {
  return {
    pgp: await pgpKeysFrom(ws, { pgpKeys: keys.pgpKeys, keyDir: ws.config.trust.keyDir }, what),
    sigstore: keys.sigstoreKeys.map((p) => readSigstorePublicKey(readText(ws.root, p, what), p)),
  };
}

export async function loadTrust(ws: Workspace, flags: TrustFlags = {}): Promise<TrustSet> {
  const trust = ws.config.trust;
  const set: TrustSet = {
    ...(await loadPublicKeys(ws, trust)),
    identities: trust.identities.map(identityRule),
    trustedRoot: null,
    trustedRootError: null,
    threshold: trust.threshold,
    required: trust.required || !!flags.requireSignature,
  };
  for (const k of flags.key ?? []) await addKeyFile(set, process.cwd(), k);
  if (flags.certificateIdentity !== undefined || flags.certificateIdentityRegexp !== undefined) {
    if (flags.certificateIdentity !== undefined && flags.certificateIdentityRegexp !== undefined) throw new SnapgovError('USAGE', 'give --certificate-identity or --certificate-identity-regexp, not both', 'the first is exact, the second an anchored regular expression');
    if (!flags.certificateOidcIssuer) throw new SnapgovError('USAGE', 'a certificate identity needs --certificate-oidc-issuer', 'for example --certificate-oidc-issuer https://token.actions.githubusercontent.com');
    set.identities.push(identityRule({ identity: flags.certificateIdentity, identityRegexp: flags.certificateIdentityRegexp, issuer: flags.certificateOidcIssuer }));
  }
  const rootPath = flags.trustedRoot ?? trust.trustedRoot;
  if (rootPath) {
    try {
      set.trustedRoot = JSON.parse(readText(flags.trustedRoot ? process.cwd() : ws.root, rootPath, 'trusted root'));
    } catch (e) {
      set.trustedRootError = e instanceof SnapgovError ? e.message : `the trusted root ${rootPath} is not JSON`;
    }
  } else set.trustedRootError = 'no trusted root is configured (trust.trustedRoot or --trusted-root)';
  return set;
}

export function trustedPgp(set: TrustSet, fingerprint: string): boolean {
  return set.pgp.some((k) => pgpFingerprint(k) === fingerprint);
}

export function trustedSigstoreKey(set: TrustSet, hint: string): boolean {
  return set.sigstore.some((k) => keyHint(k) === hint);
}
