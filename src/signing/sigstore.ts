import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { bundleFromJSON, bundleToJSON, toMessageSignatureBundle, type Bundle } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier, type TrustMaterial } from '@sigstore/verify';
import { SnapgovError } from '../errors.js';
import type { SignatureCheck } from './pgp.js';

export const BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

const EMPTY_ROOT = { mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] };

/** cosign's and sigstore-go's key hint: base64 of the SHA-256 of the DER SubjectPublicKeyInfo. */
export function keyHint(key: KeyObject): string {
  return createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('base64');
}

/** A P-256 key pair as PEM, like `cosign generate-key-pair` (unencrypted PKCS#8: protect the file). */
export function generateSigstoreKey(): { privatePem: string; publicPem: string; hint: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), hint: keyHint(publicKey) };
}

export function readSigstorePrivateKey(pem: string, source: string): KeyObject {
  // cosign's own format: scrypt and NaCl secretbox around the key, which node:crypto cannot open.
  if (/-----BEGIN ENCRYPTED (SIGSTORE|COSIGN) PRIVATE KEY-----/.test(pem)) {
    throw new SnapgovError('KEY_ERROR', `${source} is a cosign-encrypted key, which snapgov cannot read`, 'sign with cosign and import the bundle: cosign sign-blob --new-bundle-format --key cosign.key --bundle sig.json snapshots/manifests/<hex>.json, then snapgov sign <hex> --import-signature sig.json; or make a snapgov key: snapgov keygen --sigstore -o ~/.config/snapgov/keys/NAME');
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (e) {
    if (/BEGIN PUBLIC KEY/.test(pem)) throw new SnapgovError('KEY_ERROR', `${source} is a public key; signing needs the private key`, 'use PREFIX.key from snapgov keygen --sigstore');
    throw new SnapgovError('KEY_ERROR', `${source} is not a readable private key: ${(e as Error).message}`, 'give an unencrypted PKCS#8 or SEC1 PEM ECDSA P-256 key (snapgov keygen --sigstore)');
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new SnapgovError('KEY_ERROR', `${source} is not an ECDSA P-256 key`, 'Sigstore key signing uses ECDSA P-256, like cosign generate-key-pair');
  }
  return key;
}

export function readSigstorePublicKey(pem: string, source: string): KeyObject {
  try {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType !== 'ec') throw new Error('not an ECDSA key');
    return key;
  } catch (e) {
    throw new SnapgovError('KEY_ERROR', `${source} is not a readable PEM public key: ${(e as Error).message}`, 'give the PREFIX.pub written by snapgov keygen --sigstore or cosign');
  }
}

/** A standard v0.3 bundle over exactly these bytes, signed with the key: fully offline. */
export function signWithKey(bytes: Buffer, key: KeyObject): { bundle: string; hint: string } {
  const pub = createPublicKey(key);
  const hint = keyHint(pub);
  const signature = cryptoSign('sha256', bytes, key);
  const bundle = toMessageSignatureBundle({ digest: createHash('sha256').update(bytes).digest(), signature, keyHint: hint });
  return { bundle: JSON.stringify(bundleToJSON(bundle)), hint };
}

export function parseBundle(text: string): Bundle | string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return `not JSON: ${(e as Error).message}`;
  }
  try {
    return bundleFromJSON(doc);
  } catch (e) {
    return `not a Sigstore bundle: ${(e as Error).message}`;
  }
}

/**
 * The signed message digest must be the manifest's: without a log entry the verifier does not
 * compare it, so a bundle made for other bytes with a valid signature of its own would pass.
 */
function digestProblem(bundle: Bundle, bytes: Buffer): string | null {
  if (bundle.content.$case !== 'messageSignature') return 'the bundle holds a DSSE envelope, not a signature over the manifest';
  const digest = bundle.content.messageSignature.messageDigest?.digest;
  const want = createHash('sha256').update(bytes).digest();
  return digest && Buffer.from(digest).equals(want) ? null : "the bundle's message digest is not the manifest's SHA-256 (a bundle for other bytes)";
}

/**
 * Checks a key-signed bundle's signature with the one key its hint names: over `bytes` for a
 * message signature, over the envelope's pre-authentication bytes for DSSE. Throws when it is bad.
 */
export function verifyWithKey(bundle: Bundle, hint: string, key: KeyObject, bytes?: Buffer): void {
  const trust = toTrustMaterial(TrustedRoot.fromJSON(EMPTY_ROOT), (h: string) => {
    if (h !== hint) throw new Error(`unknown key ${h}`);
    return { publicKey: key, validFor: () => true };
  });
  // No log and no timestamp for a key signature: the thresholds default to 1 and would refuse it.
  new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(toSignedEntity(bundle, bytes));
}

/** Checks a key-signed bundle against the allowed public keys; the bundle's hint only selects among them. */
export function verifyKeyBundle(bytes: Buffer, text: string, keys: readonly KeyObject[]): SignatureCheck {
  const bundle = parseBundle(text);
  if (typeof bundle === 'string') return { valid: false, signer: 'unknown', reason: bundle };
  if (bundle.verificationMaterial.content.$case !== 'publicKey') return { valid: false, signer: 'unknown', reason: 'not a key-signed bundle' };
  const hint = bundle.verificationMaterial.content.publicKey.hint;
  const digest = digestProblem(bundle, bytes);
  if (digest) return { valid: false, signer: hint, reason: digest };
  const key = keys.find((k) => keyHint(k) === hint);
  if (!key) return { valid: false, signer: hint, reason: `signed by key ${hint}, which is not known (add it to trust.sigstoreKeys or pass --key)` };
  try {
    verifyWithKey(bundle, hint, key, bytes);
    return { valid: true, signer: hint, reason: 'good signature' };
  } catch (e) {
    return { valid: false, signer: hint, reason: `bad signature: ${describe(e)}` };
  }
}

/** sigstore-js errors carry a code (CERTIFICATE_ERROR, TLOG_ERROR, …) that says which check failed. */
function describe(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' ? `${code}: ${(e as Error).message}` : (e as Error).message;
}

export interface KeylessCheck extends SignatureCheck {
  identity: string | null;
  issuer: string | null;
}

/**
 * Checks a keyless bundle offline against a trusted root (Fulcio CA, Rekor and CT logs, TSA): the
 * certificate chain at the signing time the log or timestamp proves, the log inclusion, the
 * signature. Who signed is returned; whether that identity is trusted is the caller's decision.
 */
export function verifyKeylessBundle(bytes: Buffer, text: string, trustedRoot: unknown): KeylessCheck {
  const bundle = parseBundle(text);
  if (typeof bundle === 'string') return { valid: false, signer: 'unknown', reason: bundle, identity: null, issuer: null };
  const digest = digestProblem(bundle, bytes);
  if (digest) return { valid: false, signer: 'unknown', reason: digest, identity: null, issuer: null };
  let trust: TrustMaterial;
  try {
    trust = toTrustMaterial(TrustedRoot.fromJSON(trustedRoot));
  } catch (e) {
    return { valid: false, signer: 'unknown', reason: `the trusted root is unusable: ${(e as Error).message}`, identity: null, issuer: null };
  }
  try {
    const signer = new Verifier(trust, { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 }).verify(toSignedEntity(bundle, bytes));
    const identity = signer.identity?.subjectAlternativeName ?? null;
    const issuer = signer.identity?.extensions?.issuer ?? null;
    return { valid: true, signer: identity ?? 'unknown', reason: 'good signature', identity, issuer };
  } catch (e) {
    return { valid: false, signer: 'unknown', reason: `bad signature: ${describe(e)}`, identity: null, issuer: null };
  }
}
