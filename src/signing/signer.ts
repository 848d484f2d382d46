import { readFileSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import { resolve } from 'node:path';
import type { Workspace } from '../config/config.js';
import { sha256Hex } from '../core/manifest.js';
import { shortId } from '../core/ref.js';
import { SnapgovError } from '../errors.js';
import { keylessSigner } from './keyless.js';
import { readSecretKey, signPgp, verifyPgp } from './pgp.js';
import { signatureFile, writeSignatureFile, type SignatureRecord } from '../store/signature-files.js';
import { keyHint, parseBundle, readSigstorePrivateKey, signWithKey, verifyKeyBundle, verifyKeylessBundle } from './sigstore.js';
import { loadTrust, type TrustFlags } from './trust.js';
import { pgpStatementSigner, sigstoreStatementSigner, type StatementKey } from './statements.js';
import { appendAudit } from '../store/audit-log.js';
import type { StoreLayout } from '../store/layout.js';
import { readManifestBytes, readMetadata, writeMetadata } from '../store/snapshots.js';
import { askSecret } from '../util/prompt.js';

export interface SignOptions extends TrustFlags {
  pgpKey?: string;
  passphraseFile?: string;
  sigstoreKey?: string;
  sigstore?: boolean;
  identityToken?: string;
  importSignature?: string;
  /** A person can be asked for the passphrase (set by the command on a terminal). */
  ask?: boolean;
}

export interface SignResult {
  id: string;
  type: 'pgp' | 'sigstore';
  method: SignatureRecord['method'];
  signer: string;
  file: string;
  replaced: boolean;
}

function readFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new SnapgovError('KEY_ERROR', `${what} ${path} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'check the path');
  }
}

/**
 * Never a flag: a passphrase on the command line ends up in shell history and `ps`. From the file,
 * the environment, or typed at the terminal (without echo) when neither is given.
 */
async function passphrase(o: SignOptions, source: string): Promise<string | null> {
  if (o.passphraseFile) return readFile(o.passphraseFile, '--passphrase-file').replace(/\r?\n$/, '');
  if (process.env.SNAPGOV_PGP_PASSPHRASE !== undefined) return process.env.SNAPGOV_PGP_PASSPHRASE;
  return o.ask ? askSecret(`Passphrase for ${source}: `) : null;
}

type Method = 'pgp' | 'sigstore-key' | 'keyless' | 'import';

function chooseMethod(o: SignOptions, ws: Workspace): Method {
  const given: Method[] = [];
  if (o.pgpKey) given.push('pgp');
  if (o.sigstoreKey) given.push('sigstore-key');
  if (o.sigstore) given.push('keyless');
  if (o.importSignature) given.push('import');
  if (given.length > 1) throw new SnapgovError('USAGE', `give one way of signing, not ${given.join(' and ')}`, 'one of --pgp-key, --sigstore-key, --sigstore, --import-signature');
  if (given.length === 1) return given[0]!;
  if (process.env.SNAPGOV_PGP_KEY) return 'pgp';
  if (ws.config.signing.method) return ws.config.signing.method;
  throw new SnapgovError('USAGE', 'no signer given and none configured', 'pass --pgp-key FILE, --sigstore-key FILE or --sigstore, or set "signing" in snapgov.json');
}

/** Signs manifest bytes into a signature record; made by `prepareSigner` once the key is usable. */
export type Signer = (id: string, bytes: Buffer) => Promise<Omit<SignatureRecord, 'file'>>;

/**
 * Loads and unlocks the chosen signer's key (or finds the identity token) before anything is
 * signed, so that `create --sign` refuses a key problem before it writes a snapshot.
 */
export async function prepareSigner(ws: Workspace, o: SignOptions, method = chooseMethod(o, ws)): Promise<Signer> {
  const now = () => new Date().toISOString();
  if (method === 'pgp') {
    const key = await pgpSigningKey(ws, o);
    return async (_id, bytes) => {
      const sig = await signPgp(bytes, key);
      return { type: 'pgp', method: 'pgp', signer: sig.fingerprint, time: now(), signature: sig.armored, publicKey: key.toPublic().armor() };
    };
  }
  if (method === 'sigstore-key') {
    const key = sigstoreSigningKey(ws, o);
    return async (_id, bytes) => {
      const { bundle, hint } = signWithKey(bytes, key);
      return { type: 'sigstore', method: 'key', signer: hint, time: now(), signature: bundle, publicKey: createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString() };
    };
  }
  if (method === 'keyless') {
    const k = await keylessSigner({ token: o.identityToken, services: ws.config.signing });
    return async (_id, bytes) => ({ type: 'sigstore', method: 'keyless', signer: k.identity, issuer: k.issuer, time: now(), signature: await k.sign(bytes) });
  }
  const text = readFile(o.importSignature!, '--import-signature');
  return (id, bytes) => importRecord(id, bytes, text, o, ws, now());
}

/** The same keys signing in-toto statements (approvals, decisions) in DSSE envelopes. */
export async function prepareStatementSigner(ws: Workspace, o: SignOptions): Promise<StatementKey> {
  const method = chooseMethod(o, ws);
  if (method === 'pgp') return pgpStatementSigner(await pgpSigningKey(ws, o));
  if (method === 'sigstore-key') return sigstoreStatementSigner(sigstoreSigningKey(ws, o));
  throw new SnapgovError('USAGE', `statements are signed with an OpenPGP or a Sigstore key, not ${method === 'keyless' ? 'keyless' : 'an imported signature'}`, 'pass --pgp-key FILE or --sigstore-key FILE (or configure signing.pgpKey / signing.sigstoreKey)');
}

async function pgpSigningKey(ws: Workspace, o: SignOptions) {
  const cfg = ws.config.signing;
  const source = o.pgpKey ?? (process.env.SNAPGOV_PGP_KEY ? 'SNAPGOV_PGP_KEY' : cfg.pgpKey);
  if (!source) throw new SnapgovError('USAGE', 'no OpenPGP key given', 'pass --pgp-key FILE, set SNAPGOV_PGP_KEY, or signing.pgpKey in snapgov.json');
  const armored = o.pgpKey ? readFile(o.pgpKey, '--pgp-key') : source === 'SNAPGOV_PGP_KEY' ? process.env.SNAPGOV_PGP_KEY! : readFile(resolve(ws.root, source), 'signing.pgpKey');
  return readSecretKey(armored, () => passphrase(o, source), source);
}

function sigstoreSigningKey(ws: Workspace, o: SignOptions) {
  const cfg = ws.config.signing;
  const path = o.sigstoreKey ?? (cfg.sigstoreKey ? resolve(ws.root, cfg.sigstoreKey) : null);
  if (!path) throw new SnapgovError('USAGE', 'no Sigstore key given', 'pass --sigstore-key FILE or set signing.sigstoreKey');
  return readSigstorePrivateKey(readFile(path, '--sigstore-key'), path);
}

/** A signature made elsewhere (gpg --detach-sign --armor, cosign sign-blob --bundle), accepted only when valid over exactly these bytes. */
async function importRecord(id: string, bytes: Buffer, text: string, o: SignOptions, ws: Workspace, time: string): Promise<Omit<SignatureRecord, 'file'>> {
  const trust = await loadTrust(ws, o);
  const refuse = (reason: string) => new SnapgovError('SIGNATURE_INVALID', `the signature in ${o.importSignature} is not a valid signature over the manifest of ${shortId(id)}: ${reason}`, 'nothing was attached; sign exactly snapshots/manifests/<hex>.json, and give the signer\'s public key with --key if it is not in the trust policy');
  if (text.includes('-----BEGIN PGP SIGNATURE-----')) {
    const r = await verifyPgp(bytes, text, trust.pgp);
    if (!r.valid) throw refuse(r.reason);
    const key = trust.pgp.find((k) => k.getFingerprint().toUpperCase() === r.signer)!;
    return { type: 'pgp', method: 'pgp', signer: r.signer, time, signature: text, publicKey: key.armor() };
  }
  const bundle = parseBundle(text);
  if (typeof bundle === 'string') throw refuse(`neither an armored OpenPGP signature nor a Sigstore bundle (${bundle})`);
  if (bundle.verificationMaterial.content.$case === 'publicKey') {
    const r = verifyKeyBundle(bytes, text, trust.sigstore);
    if (!r.valid) throw refuse(r.reason);
    const key = trust.sigstore.find((k) => keyHint(k) === r.signer)!;
    return { type: 'sigstore', method: 'key', signer: r.signer, time, signature: text, publicKey: key.export({ type: 'spki', format: 'pem' }).toString() };
  }
  if (trust.trustedRoot === null) throw refuse(trust.trustedRootError ?? 'no trusted root');
  const r = verifyKeylessBundle(bytes, text, trust.trustedRoot);
  if (!r.valid) throw refuse(r.reason);
  return { type: 'sigstore', method: 'keyless', signer: r.identity ?? 'unknown', ...(r.issuer ? { issuer: r.issuer } : {}), time, signature: text };
}

/**
 * Signs a snapshot's manifest and records it: the signature file first, then the metadata that
 * lists it, then the audit line. The ID never changes: it is the manifest's hash.
 */
export async function signSnapshot(layout: StoreLayout, id: string, signer: Signer): Promise<SignResult> {
  const bytes = readManifestBytes(layout, id);
  if (`sha256:${sha256Hex(bytes)}` !== id) throw new SnapgovError('STORE_CORRUPT', `the manifest of ${shortId(id)} does not hash to its ID: refusing to sign it`, 'run `snapgov verify --all`');
  const made = await signer(id, bytes);
  const rec: SignatureRecord = { ...made, file: signatureFile(id, made) };
  writeSignatureFile(layout, rec);
  const md = await readMetadata(layout, id);
  const others = md.signatures.filter((s) => !(s.type === rec.type && s.signer === rec.signer));
  writeMetadata(layout, { ...md, signatures: [...others, rec] });
  await appendAudit(layout, { action: 'sign', to: id, outcome: 'success', details: { type: rec.type, method: rec.method, signer: rec.signer, ...(rec.issuer ? { issuer: rec.issuer } : {}), file: rec.file } });
  return { id, type: rec.type, method: rec.method, signer: rec.signer, file: rec.file, replaced: others.length < md.signatures.length };
}
