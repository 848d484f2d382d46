// Signed in-toto statements: a DSSE envelope signed with OpenPGP (`.dsse.json`; `sig` is the
// base64 binary detached signature over the pre-authentication bytes, so `gpg --verify` checks it)
// or a Sigstore bundle holding a DSSE envelope (`.sigstore.json`, key-signed, offline).
import { createHash, createPublicKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import * as openpgp from 'openpgp';
import { bundleToJSON, toDSSEBundle } from '@sigstore/bundle';
import { IN_TOTO_PAYLOAD_TYPE, openStatement, pae, parseEnvelope, decodeBase64, type Envelope, type Statement, type StatementWant } from '../core/dsse.js';
import { signPgp, verifyPgp } from './pgp.js';
import { keyHint, parseBundle, verifyWithKey } from './sigstore.js';
import type { StatementFormat } from '../store/statements.js';


/** Who signed: an OpenPGP fingerprint or a Sigstore key hint. */
export interface StatementSigner {
  type: 'pgp' | 'sigstore';
  id: string;
}

export interface SignedStatement {
  text: string;
  format: StatementFormat;
  signer: StatementSigner;
}

/** A loaded and unlocked key that signs statements; who it is is known before anything is signed. */
export interface StatementKey {
  signer: StatementSigner;
  sign(statement: Statement): Promise<SignedStatement>;
}

export function pgpStatementSigner(key: openpgp.PrivateKey): StatementKey {
  const signer: StatementSigner = { type: 'pgp', id: key.getFingerprint().toUpperCase() };
  return {
    signer,
    async sign(st) {
      const payload = Buffer.from(JSON.stringify(st));
      const armored = (await signPgp(pae(IN_TOTO_PAYLOAD_TYPE, payload), key)).armored;
      const binary = (await openpgp.readSignature({ armoredSignature: armored })).write();
      const envelope: Envelope = { payloadType: IN_TOTO_PAYLOAD_TYPE, payload: payload.toString('base64'), signatures: [{ keyid: signer.id, sig: Buffer.from(binary).toString('base64') }] };
      return { text: `${JSON.stringify(envelope, null, 2)}\n`, format: 'dsse', signer };
    },
  };
}

export function sigstoreStatementSigner(key: KeyObject): StatementKey {
  const signer: StatementSigner = { type: 'sigstore', id: keyHint(createPublicKey(key)) };
  return {
    signer,
    async sign(st) {
      const payload = Buffer.from(JSON.stringify(st));
      const signature = cryptoSign('sha256', pae(IN_TOTO_PAYLOAD_TYPE, payload), key);
      const bundle = toDSSEBundle({ artifact: payload, artifactType: IN_TOTO_PAYLOAD_TYPE, signature, keyHint: signer.id });
      return { text: `${JSON.stringify(bundleToJSON(bundle), null, 2)}\n`, format: 'sigstore', signer };
    },
  };
}

export type StatementCheck =
  | { ok: true; statement: Statement<Record<string, unknown>>; signer: StatementSigner; digest: string }
  | { ok: false; problem: string; signer: StatementSigner | null };

/**
 * Verifies a stored statement against the given keys, then checks what it says (payload type,
 * statement type, predicate type, subject). `digest` is the SHA-256 of the file's bytes: how a
 * decision names the statements it rests on.
 */
export async function verifyStatement(text: string, format: StatementFormat, keys: { pgp: readonly openpgp.Key[]; sigstore: readonly KeyObject[] }, want: StatementWant): Promise<StatementCheck> {
  const digest = `sha256:${createHash('sha256').update(text).digest('hex')}`;
  let envelope: Envelope;
  let signer: StatementSigner;
  if (format === 'dsse') {
    const env = parseEnvelope(text);
    if (typeof env === 'string') return { ok: false, problem: env, signer: null };
    const payload = decodeBase64(env.payload);
    const sig = decodeBase64(env.signatures[0]!.sig);
    if (payload === null || sig === null) return { ok: false, problem: 'the payload or signature is not base64', signer: null };
    let armored: string;
    try {
      armored = (await openpgp.readSignature({ binarySignature: new Uint8Array(sig) })).armor();
    } catch (e) {
      return { ok: false, problem: `not an OpenPGP signature: ${(e as Error).message}`, signer: null };
    }
    const check = await verifyPgp(pae(env.payloadType, payload), armored, keys.pgp);
    signer = { type: 'pgp', id: check.signer };
    if (!check.valid) return { ok: false, problem: check.reason, signer };
    envelope = env;
  } else {
    const bundle = parseBundle(text);
    if (typeof bundle === 'string') return { ok: false, problem: bundle, signer: null };
    if (bundle.content.$case !== 'dsseEnvelope') return { ok: false, problem: 'the bundle holds a message signature, not a DSSE envelope', signer: null };
    if (bundle.verificationMaterial.content.$case !== 'publicKey') return { ok: false, problem: 'only key-signed bundles are accepted for statements', signer: null };
    const hint = bundle.verificationMaterial.content.publicKey.hint;
    signer = { type: 'sigstore', id: hint };
    const key = keys.sigstore.find((k) => keyHint(k) === hint);
    if (!key) return { ok: false, problem: `signed by key ${hint}, which is not known`, signer };
    try {
      verifyWithKey(bundle, hint, key);
    } catch (e) {
      return { ok: false, problem: `bad signature: ${(e as Error).message}`, signer };
    }
    const dsse = bundle.content.dsseEnvelope;
    envelope = { payloadType: dsse.payloadType, payload: Buffer.from(dsse.payload).toString('base64'), signatures: [{ sig: '' }] };
  }
  const opened = openStatement(envelope, want);
  if ('problem' in opened) return { ok: false, problem: opened.problem, signer };
  return { ok: true, statement: opened.statement, signer, digest };
}
