import * as openpgp from 'openpgp';
import { SnapgovError } from '../errors.js';

export interface PgpSignature {
  armored: string;
  fingerprint: string;
}

/** Outcome of checking one signature: `valid` says the bytes are signed by `signer`; trust is decided elsewhere. */
export interface SignatureCheck {
  valid: boolean;
  signer: string;
  reason: string;
}

function keyError(message: string, hint: string): SnapgovError {
  return new SnapgovError('KEY_ERROR', message, hint);
}

/** Why a key may not sign or be trusted now: expired, revoked or invalid; null when it is usable. */
async function keyProblem(key: openpgp.Key, date = new Date()): Promise<string | null> {
  try {
    await key.verifyPrimaryKey(date);
    return null;
  } catch (e) {
    const m = (e as Error).message;
    if (/revoked/i.test(m)) return `key ${key.getFingerprint().toUpperCase()} is revoked`;
    if (/expired/i.test(m)) return `key ${key.getFingerprint().toUpperCase()} has expired`;
    return `key ${key.getFingerprint().toUpperCase()} is not valid: ${m}`;
  }
}

/** gpg 2.2 reads v4 keys only; the defaults of openpgp.js 6 (EdDSA + cv25519) are v4. */
export async function generatePgpKey(name: string, email: string, passphrase: string | null): Promise<{ secret: string; public: string; fingerprint: string }> {
  const pair = await openpgp.generateKey({ userIDs: [{ name, email }], ...(passphrase ? { passphrase } : {}), format: 'armored' });
  const key = await openpgp.readKey({ armoredKey: pair.publicKey });
  return { secret: pair.privateKey, public: pair.publicKey, fingerprint: key.getFingerprint().toUpperCase() };
}

/** `passphrase` is asked for only when the key is protected (it may prompt on a terminal). */
export async function readSecretKey(armored: string, getPassphrase: () => Promise<string | null>, source: string): Promise<openpgp.PrivateKey> {
  let key: openpgp.Key;
  try {
    key = await openpgp.readKey({ armoredKey: armored });
  } catch (e) {
    throw keyError(`${source} is not a readable OpenPGP key: ${(e as Error).message}`, 'give an armored secret key (gpg --export-secret-keys --armor, or snapgov keygen --pgp)');
  }
  if (!key.isPrivate()) throw keyError(`${source} is a public key; signing needs the secret key`, 'export it with gpg --export-secret-keys --armor KEYID, or use PREFIX.sec.asc from snapgov keygen');
  const problem = await keyProblem(key);
  if (problem) throw keyError(`${source}: ${problem}`, 'sign with a current key');
  if (key.isDecrypted()) return key;
  const passphrase = await getPassphrase();
  if (passphrase === null) throw keyError(`${source} is protected by a passphrase and none was given`, 'pass --passphrase-file FILE or set SNAPGOV_PGP_PASSPHRASE (on a terminal snapgov asks for it)');
  try {
    return await openpgp.decryptKey({ privateKey: key, passphrase });
  } catch {
    throw keyError(`wrong passphrase for ${source}`, 'check the passphrase (--passphrase-file, SNAPGOV_PGP_PASSPHRASE or the one typed); nothing was written');
  }
}

/** An armored detached signature over exactly these bytes: `gpg --verify SIG MANIFEST` checks it. */
export async function signPgp(bytes: Buffer, key: openpgp.PrivateKey): Promise<PgpSignature> {
  const message = await openpgp.createMessage({ binary: new Uint8Array(bytes) });
  const armored = await openpgp.sign({ message, signingKeys: key, detached: true, format: 'armored' });
  return { armored, fingerprint: key.getFingerprint().toUpperCase() };
}

export async function readPublicKeys(armored: string, source: string): Promise<openpgp.Key[]> {
  try {
    return (await openpgp.readKeys({ armoredKeys: armored })).map((k) => (k.isPrivate() ? k.toPublic() : k));
  } catch (e) {
    throw new SnapgovError('KEY_ERROR', `${source} is not a readable OpenPGP public key: ${(e as Error).message}`, 'export it with gpg --export --armor KEYID');
  }
}

/**
 * Checks a detached signature over `bytes` against the given keys. Only a key among `keys` can make
 * it valid (openpgp.verify accepts any matching key, so the signer is looked up first); the
 * signer's key must not be expired or revoked now; SHA-1 and other weak hashes are refused by
 * openpgp.js's defaults.
 */
export async function verifyPgp(bytes: Buffer, armoredSignature: string, keys: readonly openpgp.Key[]): Promise<SignatureCheck> {
  let signature: openpgp.Signature;
  try {
    signature = await openpgp.readSignature({ armoredSignature });
  } catch (e) {
    return { valid: false, signer: 'unknown', reason: `not a readable OpenPGP signature: ${(e as Error).message}` };
  }
  const ids = signature.getSigningKeyIDs();
  const signerId = ids[0]?.toHex().toUpperCase() ?? 'unknown';
  const key = keys.find((k) => ids.some((id) => k.getKeys(id).length > 0));
  if (!key) return { valid: false, signer: signerId, reason: `signed by key ${signerId}, whose public key is not known (add it to trust.pgpKeys or pass --key)` };
  const signer = key.getFingerprint().toUpperCase();
  const problem = await keyProblem(key);
  if (problem) return { valid: false, signer, reason: problem };
  try {
    const message = await openpgp.createMessage({ binary: new Uint8Array(bytes) });
    const result = await openpgp.verify({ message, signature, verificationKeys: [key], format: 'binary' });
    const one = result.signatures.find((s) => key.getKeys(s.keyID).length > 0);
    if (!one) return { valid: false, signer, reason: 'no signature by this key' };
    await one.verified;
    return { valid: true, signer, reason: 'good signature' };
  } catch (e) {
    return { valid: false, signer, reason: `bad signature: ${(e as Error).message}` };
  }
}

export function pgpFingerprint(key: openpgp.Key): string {
  return key.getFingerprint().toUpperCase();
}
