import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonFile, runAsync, runJson, sampleWorkspace, tempDir } from '../helpers/cli.js';
import { startSigstore, testToken, type SigstoreServices } from '../helpers/sigstore-services.js';

interface Verify {
  ok: boolean;
  snapshots: { problems: { code: string }[]; signatures: { type: string; method: string; signer: string; valid: boolean; trusted: boolean; reason: string }[]; trustSatisfied: boolean }[];
}

const ISSUER = 'https://token.actions.example';
let services: SigstoreServices | null = null;
afterEach(async () => {
  await services?.close();
  services = null;
});

/** A workspace whose config points keyless signing at the local services, and the trusted root as a file. */
async function setup(opts: { caClock?: Date } = {}): Promise<{ ws: string; id: string; root: string }> {
  services = await startSigstore(opts);
  const ws = sampleWorkspace();
  const cfg = readJsonFile<Record<string, unknown>>(join(ws, 'snapgov.json'));
  writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, signing: { fulcioUrl: services.fulcioUrl, rekorUrl: services.rekorUrl } }));
  const id = runJson<{ id: string }>(ws, ['create']).doc.id;
  const root = join(tempDir(), 'trusted_root.json');
  writeFileSync(root, JSON.stringify(services.trustedRoot));
  return { ws, id, root };
}

async function signKeyless(ws: string, id: string, sub: string) {
  const r = await runAsync(ws, ['--json', 'sign', id, '--sigstore'], { SIGSTORE_ID_TOKEN: testToken({ sub, iss: ISSUER }) });
  return { code: r.code, doc: r.code === 0 ? (JSON.parse(r.stdout) as { signer: string; file: string; method: string }) : null, stderr: r.stderr };
}

describe('Sigstore keyless signing (Fulcio and Rekor on 127.0.0.1)', () => {
  it('signs with an identity token and verifies offline against the trusted root and an exact identity', async () => {
    const { ws, id, root } = await setup();
    const s = await signKeyless(ws, id, 'ci-bot@x.example');
    expect(s.code, s.stderr).toBe(0);
    expect(s.doc).toMatchObject({ signer: 'ci-bot@x.example', method: 'keyless' });
    const bundle = readJsonFile<{ mediaType: string; verificationMaterial: { certificate?: unknown; tlogEntries: unknown[] } }>(join(ws, 'metadata', s.doc!.file));
    expect(bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    expect(bundle.verificationMaterial.certificate).toBeDefined();
    expect(bundle.verificationMaterial.tlogEntries).toHaveLength(1);
    await services!.close(); // verification is offline
    services = null;

    const trusted = runJson<Verify>(ws, ['verify', id, '--require-signature', '--trusted-root', root, '--certificate-identity', 'ci-bot@x.example', '--certificate-oidc-issuer', ISSUER]);
    expect(trusted.code, JSON.stringify(trusted.doc)).toBe(0);
    expect(trusted.doc.snapshots[0]!.signatures[0]).toMatchObject({ type: 'sigstore', method: 'keyless', signer: 'ci-bot@x.example', valid: true, trusted: true });
    // exact identities are exact: a suffix match is not trust
    const suffix = runJson<Verify>(ws, ['verify', id, '--require-signature', '--trusted-root', root, '--certificate-identity', 'bot@x', '--certificate-oidc-issuer', ISSUER]);
    expect(suffix.code).toBe(1);
    expect(suffix.doc.snapshots[0]!.signatures[0]).toMatchObject({ valid: true, trusted: false });
    expect(suffix.doc.snapshots[0]!.signatures[0]!.reason).toMatch(/identity ci-bot@x\.example \(issuer https:\/\/token\.actions\.example\) is not in the trust policy/);
    // the regexp form is anchored; the issuer compares exactly
    expect(runJson<Verify>(ws, ['verify', id, '--require-signature', '--trusted-root', root, '--certificate-identity-regexp', '.*@x\\.example', '--certificate-oidc-issuer', ISSUER]).code).toBe(0);
    expect(runJson<Verify>(ws, ['verify', id, '--require-signature', '--trusted-root', root, '--certificate-identity-regexp', 'bot@x', '--certificate-oidc-issuer', ISSUER]).code).toBe(1);
    expect(runJson<Verify>(ws, ['verify', id, '--require-signature', '--trusted-root', root, '--certificate-identity', 'ci-bot@x.example', '--certificate-oidc-issuer', `${ISSUER}.evil`]).code).toBe(1);
    // the same policy in the config
    const cfg = readJsonFile<Record<string, unknown>>(join(ws, 'snapgov.json'));
    writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, trust: { identities: [{ identity: 'ci-bot@x.example', issuer: ISSUER }], trustedRoot: root, required: true } }));
    expect(runJson<Verify>(ws, ['verify', id]).code).toBe(0);
  });

  it('fails with a precise reason: no trusted root, another root, a certificate outside its signing time, a bundle for other bytes', async () => {
    const { ws, id, root } = await setup();
    expect((await signKeyless(ws, id, 'ci-bot@x.example')).code).toBe(0);
    const noRoot = runJson<Verify>(ws, ['verify', id, '--certificate-identity', 'ci-bot@x.example', '--certificate-oidc-issuer', ISSUER]);
    expect(noRoot.code).toBe(1);
    expect(noRoot.doc.snapshots[0]!.signatures[0]!.reason).toBe('no trusted root is configured (trust.trustedRoot or --trusted-root)');
    const missing = runJson<Verify>(ws, ['verify', id, '--trusted-root', join(tempDir(), 'nope.json')]);
    expect(missing.doc.snapshots[0]!.signatures[0]!.reason).toMatch(/trusted root .*nope\.json cannot be read/);
    await services!.close();

    // A root of other services: the certificate chain is not trusted.
    services = await startSigstore();
    const otherRoot = join(tempDir(), 'other_root.json');
    writeFileSync(otherRoot, JSON.stringify(services.trustedRoot));
    const other = runJson<Verify>(ws, ['verify', id, '--trusted-root', otherRoot]);
    expect(other.code).toBe(1);
    expect(other.doc.snapshots[0]!.signatures[0]).toMatchObject({ valid: false, trusted: false });
    expect(other.doc.snapshots[0]!.signatures[0]!.reason).toMatch(/^bad signature: /);
    await services.close();
    services = null;

    // Certificates issued an hour before the log entry: expired at the proven signing time.
    const old = await setup({ caClock: new Date(Date.now() - 3_600_000) });
    const signed = await signKeyless(old.ws, old.id, 'ci-bot@x.example');
    expect(signed.code, signed.stderr).toBe(0);
    const expired = runJson<Verify>(old.ws, ['verify', old.id, '--trusted-root', old.root]);
    expect(expired.code).toBe(1);
    expect(expired.doc.snapshots[0]!.signatures[0]!.reason).toBe('bad signature: CERTIFICATE_ERROR: Failed to verify certificate chain');

    // A keyless bundle for other bytes is refused on import.
    writeFileSync(join(ws, 'notes.txt'), 'other\n');
    const b = runJson<{ id: string }>(ws, ['create']).doc.id;
    const file = readJsonFile<{ signatures: { file: string }[] }>(join(ws, 'metadata', `${id.slice(7)}.json`)).signatures[0]!.file;
    const foreign = runJson(ws, ['sign', b, '--import-signature', join(ws, 'metadata', file), '--trusted-root', root]);
    expect(foreign.code).toBe(1);
    expect(foreign.error!.message).toMatch(/message digest is not the manifest's SHA-256/);
    // ...and imported for the right bytes
    const again = runJson<{ signer: string }>(ws, ['sign', id, '--import-signature', join(ws, 'metadata', file), '--trusted-root', root]);
    expect(again.code, JSON.stringify(again.error)).toBe(0);
    expect(again.doc.signer).toBe('ci-bot@x.example');
    expect(readFileSync(join(ws, 'metadata', file), 'utf8')).toContain('"mediaType"');
  });

  it('without an identity token, keyless signing fails with exit 12', async () => {
    const { ws, id } = await setup();
    const r = await runAsync(ws, ['--json', 'sign', id, '--sigstore'], { SIGSTORE_ID_TOKEN: '' });
    expect(r.code).toBe(12);
    expect(r.stderr).toMatch(/needs an OIDC identity token/);
    const bad = await runAsync(ws, ['--json', 'sign', id, '--sigstore', '--identity-token', 'not-a-jwt']);
    expect(bad.code).toBe(12);
  });
});
