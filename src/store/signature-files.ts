import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { atomicWriteFile, ensureDir } from '../util/fsx.js';
import { hexOf, type StoreLayout } from './layout.js';

/**
 * One signature as recorded in the snapshot's metadata. The signature itself (and the signer's
 * public key, so validity can be checked without the trust list) lives in the record, so export
 * and import carry it; the file beside the metadata is the copy that gpg and cosign read.
 */
export interface SignatureRecord {
  type: 'pgp' | 'sigstore';
  method: 'pgp' | 'key' | 'keyless';
  /** OpenPGP fingerprint, Sigstore key hint, or keyless certificate identity. */
  signer: string;
  issuer?: string;
  time: string;
  /** Relative to the metadata folder. */
  file: string;
  signature: string;
  publicKey?: string;
}

export function signaturesDir(l: StoreLayout, id: string): string {
  return join(l.metadata, 'signatures', hexOf(id));
}

/** File name of a signature: one per signer, so signing again with the same key replaces it. */
export function signatureFile(id: string, rec: Pick<SignatureRecord, 'type' | 'signer'>): string {
  const safe = rec.signer.replace(/[^A-Za-z0-9@._-]/g, '_').slice(0, 100);
  return join('signatures', hexOf(id), rec.type === 'pgp' ? `${safe}.asc` : `${safe}.sigstore.json`);
}

export function writeSignatureFile(l: StoreLayout, rec: SignatureRecord): void {
  const path = join(l.metadata, rec.file);
  ensureDir(join(path, '..'));
  atomicWriteFile(path, rec.signature);
}

export function removeSignatureFiles(l: StoreLayout, id: string): void {
  rmSync(signaturesDir(l, id), { recursive: true, force: true });
}
