// in-toto Statements in DSSE envelopes (secure-systems-lab/dsse protocol.md, in-toto attestation
// spec v1): the pre-authentication encoding that is signed, and the checks a consumer must make
// itself, since a valid signature over the wrong statement proves nothing.

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';

/** `DSSEv1 SP LEN(type) SP type SP LEN(body) SP body`, lengths as ASCII decimal byte counts. */
export function pae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

export interface Envelope {
  payloadType: string;
  /** Base64 of the serialized statement. */
  payload: string;
  signatures: { keyid?: string; sig: string }[];
}

export interface Subject {
  name: string;
  digest: { sha256: string };
}

export interface Statement<P = unknown> {
  _type: typeof STATEMENT_TYPE;
  subject: Subject[];
  predicateType: string;
  predicate: P;
}

/** The subject of a statement about a snapshot: its ID, the SHA-256 of its canonical manifest. */
export function snapshotSubject(id: string): Subject {
  return { name: id, digest: { sha256: id.slice('sha256:'.length) } };
}

export function statement<P>(id: string, predicateType: string, predicate: P): Statement<P> {
  return { _type: STATEMENT_TYPE, subject: [snapshotSubject(id)], predicateType, predicate };
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Strict base64 (standard or URL-safe, as DSSE allows); null for anything else. */
export function decodeBase64(text: string): Buffer | null {
  if (BASE64.test(text)) return Buffer.from(text, 'base64');
  if (BASE64URL.test(text) && text.length % 4 !== 1) return Buffer.from(text, 'base64url');
  return null;
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** An envelope read from a file, or why it is not one. */
export function parseEnvelope(text: string): Envelope | string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return `not JSON: ${(e as Error).message}`;
  }
  if (!isObject(doc) || typeof doc.payloadType !== 'string' || typeof doc.payload !== 'string' || !Array.isArray(doc.signatures)) return 'not a DSSE envelope (payloadType, payload and signatures are required)';
  if (doc.signatures.length !== 1) return `a DSSE envelope with ${doc.signatures.length} signatures: snapgov writes and reads one signer per file`;
  const [sig] = doc.signatures as unknown[];
  if (!isObject(sig) || typeof sig.sig !== 'string' || (sig.keyid !== undefined && typeof sig.keyid !== 'string')) return 'the envelope signature has no sig';
  return { payloadType: doc.payloadType, payload: doc.payload, signatures: [{ ...(typeof sig.keyid === 'string' ? { keyid: sig.keyid } : {}), sig: sig.sig }] };
}

/** What a statement must be: its predicate type, and the digest of its one subject (null: the caller checks it, knowing the predicate). */
export interface StatementWant {
  predicateType: string;
  subject: string | null;
}

/**
 * The statement an envelope carries, checked as the consumer must: payload type, statement type,
 * predicate type and the single subject, which must be the snapshot asked about. Call it on the
 * bytes that were verified (DSSE: never re-parse after verification).
 */
export function openStatement(envelope: Envelope, want: StatementWant): { statement: Statement<Record<string, unknown>>; payload: Buffer } | { problem: string } {
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) return { problem: `payload type ${JSON.stringify(envelope.payloadType)} is not ${IN_TOTO_PAYLOAD_TYPE}` };
  const payload = decodeBase64(envelope.payload);
  if (payload === null) return { problem: 'the payload is not base64' };
  let doc: unknown;
  try {
    doc = JSON.parse(payload.toString('utf8'));
  } catch {
    return { problem: 'the payload is not JSON' };
  }
  if (!isObject(doc) || doc._type !== STATEMENT_TYPE) return { problem: `the payload is not an in-toto Statement v1 (_type ${JSON.stringify(isObject(doc) ? doc._type : undefined)})` };
  if (doc.predicateType !== want.predicateType) return { problem: `predicate type ${JSON.stringify(doc.predicateType)} is not ${want.predicateType}` };
  if (!isObject(doc.predicate)) return { problem: 'the statement has no predicate' };
  const subjects = doc.subject;
  if (!Array.isArray(subjects) || subjects.length !== 1) return { problem: 'the statement must have exactly one subject' };
  const s = subjects[0] as unknown;
  const digest = isObject(s) && isObject(s.digest) ? s.digest.sha256 : undefined;
  if (typeof digest !== 'string' || !/^[0-9a-f]{64}$/.test(digest)) return { problem: 'the subject has no sha256 digest' };
  if (want.subject !== null && `sha256:${digest}` !== want.subject) return { problem: `the statement is about sha256:${digest}, not ${want.subject}` };
  return { statement: doc as unknown as Statement<Record<string, unknown>>, payload };
}
