import { CIContextProvider, DEFAULT_FULCIO_URL, DEFAULT_REKOR_URL, FulcioSigner, MessageSignatureBundleBuilder, RekorWitness, TSAWitness, type Witness } from '@sigstore/sign';
import { bundleToJSON } from '@sigstore/bundle';
import type { SigningConfig } from '../config/config.js';
import { SnapgovError } from '../errors.js';
import { assertExtraCaLoaded } from '../util/extra-ca.js';
import { BUNDLE_MEDIA_TYPE } from './sigstore.js';

export interface KeylessOptions {
  token: string | undefined;
  services: Pick<SigningConfig, 'fulcioUrl' | 'rekorUrl' | 'tsaUrl'>;
}

/** The identity token: the flag, SIGSTORE_ID_TOKEN, or the CI's ambient OIDC token (GitHub Actions). */
async function identityToken(flag: string | undefined): Promise<string> {
  const token = flag ?? process.env.SIGSTORE_ID_TOKEN;
  if (token) return token;
  if (process.env.ACTIONS_ID_TOKEN_REQUEST_URL) return new CIContextProvider('sigstore').getToken();
  throw new SnapgovError('KEY_ERROR', 'keyless signing needs an OIDC identity token', 'pass --identity-token TOKEN or set SIGSTORE_ID_TOKEN (in GitHub Actions, grant id-token: write)');
}

/** Claims of a JWT, read without checking its signature (Fulcio checks it); for the record only. */
function claims(token: string): { identity: string; issuer: string } {
  try {
    const body = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    return { identity: String(body.email ?? body.sub ?? 'unknown'), issuer: String(body.iss ?? 'unknown') };
  } catch {
    throw new SnapgovError('KEY_ERROR', 'the identity token is not a JWT', 'pass the raw OIDC token (three base64url parts separated by dots)');
  }
}

/**
 * Keyless signing: an ephemeral key, a short-lived Fulcio certificate for the token's identity, a
 * Rekor entry, and optionally an RFC 3161 timestamp. The bundle is repackaged as v0.3 (a single
 * certificate; the chain comes from the trusted root at verification). The token is found and read
 * first, so a missing or malformed one is refused before the caller writes anything.
 */
export async function keylessSigner(opts: KeylessOptions): Promise<{ identity: string; issuer: string; sign: (bytes: Buffer) => Promise<string> }> {
  assertExtraCaLoaded();
  const token = await identityToken(opts.token);
  const who = claims(token);
  return { ...who, sign: (bytes) => signWithToken(bytes, token, opts.services) };
}

async function signWithToken(bytes: Buffer, token: string, services: KeylessOptions['services']): Promise<string> {
  const signer = new FulcioSigner({ fulcioBaseURL: services.fulcioUrl ?? DEFAULT_FULCIO_URL, identityProvider: { getToken: () => Promise.resolve(token) } });
  const witnesses: Witness[] = [new RekorWitness({ rekorBaseURL: services.rekorUrl ?? DEFAULT_REKOR_URL })];
  if (services.tsaUrl) witnesses.push(new TSAWitness({ tsaBaseURL: services.tsaUrl }));
  let bundle;
  try {
    bundle = await new MessageSignatureBundleBuilder({ signer, witnesses }).create({ data: bytes });
  } catch (e) {
    throw new SnapgovError('KEY_ERROR', `keyless signing failed: ${(e as Error).message}`, 'check the identity token and the Fulcio/Rekor URLs (signing.fulcioUrl, signing.rekorUrl)');
  }
  const vm = bundle.verificationMaterial;
  if (vm.content.$case === 'x509CertificateChain') {
    const leaf = vm.content.x509CertificateChain.certificates[0]!;
    bundle = { ...bundle, mediaType: BUNDLE_MEDIA_TYPE, verificationMaterial: { ...vm, content: { $case: 'certificate' as const, certificate: leaf } } };
  }
  return JSON.stringify(bundleToJSON(bundle));
}
