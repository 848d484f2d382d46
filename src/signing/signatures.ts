import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Problem } from '../core/index-check.js';
import type { StoreLayout } from '../store/layout.js';
import type { SignatureRecord } from '../store/signature-files.js';
import { readManifestBytes, readMetadata } from '../store/snapshots.js';
import { readPublicKeys, verifyPgp, type SignatureCheck } from './pgp.js';
import { readSigstorePublicKey, verifyKeyBundle, verifyKeylessBundle } from './sigstore.js';
import { identityTrusted, trustedPgp, trustedSigstoreKey, type TrustSet } from './trust.js';

export interface SignatureReport {
  type: 'pgp' | 'sigstore';
  method: SignatureRecord['method'];
  signer: string;
  valid: boolean;
  trusted: boolean;
  reason: string;
}

async function embeddedPgp(rec: SignatureRecord) {
  if (!rec.publicKey) return [];
  try {
    return await readPublicKeys(rec.publicKey, 'the recorded key');
  } catch {
    return [];
  }
}

function embeddedPem(rec: SignatureRecord) {
  try {
    return rec.publicKey ? [readSigstorePublicKey(rec.publicKey, 'the recorded key')] : [];
  } catch {
    return [];
  }
}

/** Validity and trust of one signature over the manifest bytes, as the record holds it (a pull checks one before it is stored). */
export async function checkSignatureRecord(rec: SignatureRecord, bytes: Buffer, trust: TrustSet): Promise<SignatureReport> {
  let check: SignatureCheck;
  let trusted = false;
  let untrustedWhy = '';
  if (rec.type === 'pgp') {
    check = await verifyPgp(bytes, rec.signature, [...trust.pgp, ...(await embeddedPgp(rec))]);
    trusted = check.valid && trustedPgp(trust, check.signer);
    untrustedWhy = `key ${check.signer} is not in the trust policy`;
  } else if (rec.method === 'key') {
    check = verifyKeyBundle(bytes, rec.signature, [...trust.sigstore, ...embeddedPem(rec)]);
    trusted = check.valid && trustedSigstoreKey(trust, check.signer);
    untrustedWhy = `key ${check.signer} is not in the trust policy`;
  } else if (trust.trustedRoot === null) {
    check = { valid: false, signer: rec.signer, reason: trust.trustedRootError ?? 'no trusted root' };
  } else {
    const k = verifyKeylessBundle(bytes, rec.signature, trust.trustedRoot);
    check = k;
    trusted = k.valid && identityTrusted(trust.identities, k.identity, k.issuer);
    untrustedWhy = `identity ${k.identity} (issuer ${k.issuer}) is not in the trust policy`;
  }
  const reason = check.valid && !trusted ? `${check.reason}; ${untrustedWhy}` : check.reason;
  return { type: rec.type, method: rec.method, signer: check.signer === 'unknown' ? rec.signer : check.signer, valid: check.valid, trusted, reason };
}

/** Validity and trust of one recorded signature over the manifest bytes, and its file in the store. */
export async function checkSignature(l: StoreLayout, rec: SignatureRecord, bytes: Buffer, trust: TrustSet): Promise<SignatureReport> {
  const report = await checkSignatureRecord(rec, bytes, trust);
  // The file is what gpg and cosign users check: a missing or swapped file is reported.
  let onDisk: string | null = null;
  try {
    onDisk = readFileSync(join(l.metadata, rec.file), 'utf8');
  } catch {
    // reported below
  }
  if (onDisk !== rec.signature) return { ...report, valid: false, trusted: false, reason: `the signature file ${rec.file} is ${onDisk === null ? 'missing' : 'not the recorded signature (replaced or swapped)'}` };
  return report;
}

/** Distinct trusted signers (one key or identity counts once) against the policy's threshold. */
export function trustSatisfied(reports: readonly SignatureReport[], threshold: number): boolean {
  return new Set(reports.filter((r) => r.trusted).map((r) => `${r.type}:${r.signer}`)).size >= threshold;
}

/**
 * Every signature of the snapshot, each reported with validity and trust. An invalid signature is a
 * problem (someone tampered with the snapshot or its signature); a missing trusted signature is one
 * only when the policy requires it.
 */
export async function signatureProblems(layout: StoreLayout, id: string, trust: TrustSet): Promise<{ signatures: SignatureReport[]; trustSatisfied: boolean; problems: Problem[] }> {
  const problems: Problem[] = [];
  let records: SignatureRecord[];
  let bytes: Buffer;
  try {
    records = (await readMetadata(layout, id)).signatures;
    bytes = readManifestBytes(layout, id);
  } catch {
    return { signatures: [], trustSatisfied: false, problems: trust.required ? [{ code: 'TRUST_NOT_SATISFIED', path: '', message: 'the signatures cannot be read (see the other problems)' }] : [] };
  }
  const signatures: SignatureReport[] = [];
  for (const rec of records) signatures.push(await checkSignature(layout, rec, bytes, trust));
  for (const r of signatures) if (!r.valid) problems.push({ code: 'SIGNATURE_INVALID', path: '', message: `${r.type} signature by ${r.signer}: ${r.reason}` });
  const ok = trustSatisfied(signatures, trust.threshold);
  if (trust.required && !ok) {
    const n = new Set(signatures.filter((r) => r.trusted).map((r) => r.signer)).size;
    problems.push({ code: 'TRUST_NOT_SATISFIED', path: '', message: `${n} of the ${trust.threshold} trusted signer(s) the policy requires` });
  }
  return { signatures, trustSatisfied: ok, problems };
}
