import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { readJsonFile, run, runJson, sampleWorkspace, tempDir } from '../helpers/cli.js';

interface SigReport {
  type: string;
  method: string;
  signer: string;
  valid: boolean;
  trusted: boolean;
  reason: string;
}
interface Verify {
  ok: boolean;
  snapshots: { id: string; ok: boolean; problems: { code: string; message: string }[]; signatures: SigReport[]; trustSatisfied: boolean }[];
}
interface Signed {
  id: string;
  type: string;
  method: string;
  signer: string;
  file: string;
}

const hex = (id: string) => id.slice(7);
const manifestOf = (ws: string, id: string) => join(ws, 'snapshots/manifests', `${hex(id)}.json`);
const sigDir = (ws: string, id: string) => join(ws, 'metadata/signatures', hex(id));
const metadataOf = (ws: string, id: string) => readJsonFile<{ signatures: { signer: string; file: string }[] }>(join(ws, 'metadata', `${hex(id)}.json`));

/** A workspace with one snapshot and an OpenPGP key pair made by snapgov keygen (passphrase-protected). */
function signedSetup(): { ws: string; id: string; keys: string; pass: string; fpr: string } {
  const ws = sampleWorkspace();
  const id = runJson<{ id: string }>(ws, ['create']).doc.id;
  const keys = tempDir('snapgov-keys-');
  const pass = join(keys, 'pass.txt');
  writeFileSync(pass, 'correct horse\n');
  const k = runJson<{ id: string; secretFile: string; publicFile: string; protected: boolean }>(ws, ['keygen', '--pgp', '--name', 'Release Bot', '--email', 'release@example.com', '-o', join(keys, 'release'), '--passphrase-file', pass]);
  expect(k.code).toBe(0);
  expect(k.doc.protected).toBe(true);
  expect(statSync(k.doc.secretFile).mode & 0o777).toBe(0o600);
  expect(readFileSync(k.doc.secretFile, 'utf8')).toContain('BEGIN PGP PRIVATE KEY BLOCK');
  expect(readFileSync(k.doc.publicFile, 'utf8')).toContain('BEGIN PGP PUBLIC KEY BLOCK');
  return { ws, id, keys, pass, fpr: k.doc.id };
}

/** A throwaway GnuPG home; the agent is stopped afterwards. */
function gpgHome(): { home: string; gpg: (args: string[], input?: string) => { status: number; stdout: string; stderr: string } } {
  const home = tempDir('snapgov-gnupg-');
  chmodSync(home, 0o700);
  const gpg = (args: string[], input?: string) => {
    const r = spawnSync('gpg', ['--homedir', home, '--batch', '--yes', '--pinentry-mode', 'loopback', ...args], { encoding: 'utf8', input });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  return { home, gpg };
}

function stopAgent(home: string): void {
  spawnSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']);
}

describe('OpenPGP signing', () => {
  it('signs with a key made by keygen; the signature is recorded, listed, audited, and verified against the trust policy', () => {
    const { ws, id, keys, pass, fpr } = signedSetup();
    const r = runJson<Signed>(ws, ['sign', 'latest', '--pgp-key', join(keys, 'release.sec.asc'), '--passphrase-file', pass]);
    expect(r.code).toBe(0);
    expect(r.doc).toMatchObject({ id, type: 'pgp', method: 'pgp', signer: fpr, file: `signatures/${hex(id)}/${fpr}.asc` });
    const file = join(ws, 'metadata', r.doc.file);
    expect(readFileSync(file, 'utf8')).toMatch(/^-----BEGIN PGP SIGNATURE-----/);
    expect(metadataOf(ws, id).signatures.map((s) => s.signer)).toEqual([fpr]);
    // signing never changes the ID
    expect(runJson<{ snapshots: { id: string; signatures: number }[] }>(ws, ['list']).doc.snapshots).toMatchObject([{ id, signatures: 1 }]);
    const audit = runJson<{ entries: { action: string; to: string; details: { signer: string; type: string } }[] }>(ws, ['audit']).doc.entries;
    expect(audit[audit.length - 1]).toMatchObject({ action: 'sign', to: id, details: { signer: fpr, type: 'pgp' } });

    // valid but not trusted: reported, does not count
    const plain = runJson<Verify>(ws, ['verify']);
    expect(plain.code).toBe(0);
    expect(plain.doc.snapshots[0]!.signatures).toEqual([{ type: 'pgp', method: 'pgp', signer: fpr, valid: true, trusted: false, reason: `good signature; key ${fpr} is not in the trust policy` }]);
    expect(plain.doc.snapshots[0]!.trustSatisfied).toBe(false);
    const required = runJson<Verify>(ws, ['verify', '--require-signature']);
    expect(required.code).toBe(1);
    expect(required.doc.snapshots[0]!.problems.map((p) => p.code)).toEqual(['TRUST_NOT_SATISFIED']);
    // trusted for one run with --key, or by the config (a file, or a fingerprint in the key folder)
    const withKey = runJson<Verify>(ws, ['verify', '--require-signature', '--key', join(keys, 'release.pub.asc')]);
    expect(withKey.code).toBe(0);
    expect(withKey.doc.snapshots[0]!.signatures[0]).toMatchObject({ valid: true, trusted: true, reason: 'good signature' });
    mkdirSync(join(ws, 'keys'));
    writeFileSync(join(ws, 'keys/release.asc'), readFileSync(join(keys, 'release.pub.asc')));
    const cfg = readJsonFile<Record<string, unknown>>(join(ws, 'snapgov.json'));
    writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, trust: { pgpKeys: [fpr], required: true } }));
    expect(runJson<Verify>(ws, ['verify']).doc.snapshots[0]!.trustSatisfied).toBe(true);
    writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, trust: { pgpKeys: [fpr], required: true, threshold: 2 } }));
    const two = runJson<Verify>(ws, ['verify']);
    expect(two.code).toBe(1);
    expect(two.doc.snapshots[0]!.problems[0]!.message).toBe('1 of the 2 trusted signer(s) the policy requires');
  });

  it('interoperates with GnuPG both ways: gpgv checks snapgov signatures; gpg signatures and gpg keys work in snapgov', () => {
    const { ws, id, keys, pass, fpr } = signedSetup();
    const signed = runJson<Signed>(ws, ['sign', id, '--pgp-key', join(keys, 'release.sec.asc')], { SNAPGOV_PGP_PASSPHRASE: 'correct horse' });
    expect(signed.code).toBe(0);
    expect(pass).toBeTruthy();
    const { home, gpg } = gpgHome();
    try {
      expect(gpg(['--import', join(keys, 'release.pub.asc')]).status).toBe(0);
      const ring = join(home, 'allowed.gpg');
      writeFileSync(ring, spawnSync('gpg', ['--homedir', home, '--export', fpr]).stdout);
      const v = spawnSync('gpgv', ['--keyring', ring, '--status-fd', '1', join(ws, 'metadata', signed.doc.file), manifestOf(ws, id)], { encoding: 'utf8' });
      expect(v.status, v.stderr).toBe(0);
      expect(v.stdout).toContain(`[GNUPG:] VALIDSIG ${fpr}`);

      // A key made by gpg signs in snapgov; a signature made by gpg is attached by snapgov.
      expect(gpg(['--passphrase', '', '--quick-gen-key', 'Ops <ops@example.com>', 'ed25519', 'sign', 'never']).status).toBe(0);
      const opsFpr = /fpr:+([0-9A-F]{40}):/.exec(gpg(['--with-colons', '--list-keys', 'ops@example.com']).stdout)![1]!;
      writeFileSync(join(keys, 'ops.pub.asc'), gpg(['--armor', '--export', opsFpr]).stdout);
      writeFileSync(join(keys, 'ops.sec.asc'), gpg(['--passphrase', '', '--armor', '--export-secret-keys', opsFpr]).stdout);
      const detached = join(keys, 'gpg.asc');
      expect(gpg(['--local-user', opsFpr, '--passphrase', '', '--armor', '--detach-sign', '-o', detached, manifestOf(ws, id)]).status).toBe(0);
      const imported = runJson<Signed>(ws, ['sign', id, '--import-signature', detached, '--key', join(keys, 'ops.pub.asc')]);
      expect(imported.code, JSON.stringify(imported.error)).toBe(0);
      expect(imported.doc.signer).toBe(opsFpr);
      const both = runJson<Verify>(ws, ['verify', '--key', join(keys, 'ops.pub.asc'), '--key', join(keys, 'release.pub.asc')]);
      expect(both.doc.snapshots[0]!.signatures.map((s) => [s.signer, s.valid, s.trusted])).toEqual([
        [fpr, true, true],
        [opsFpr, true, true],
      ]);
      const gpgKeySigned = runJson<Signed>(ws, ['sign', id, '--pgp-key', join(keys, 'ops.sec.asc')]);
      expect(gpgKeySigned.code, JSON.stringify(gpgKeySigned.error)).toBe(0);
      expect(gpgKeySigned.doc.signer).toBe(opsFpr);
      expect(metadataOf(ws, id).signatures).toHaveLength(2); // re-signing by the same key replaces its signature
      // SHA-1 signatures are refused
      const sha1 = join(keys, 'sha1.asc');
      expect(gpg(['--local-user', opsFpr, '--passphrase', '', '--digest-algo', 'SHA1', '--armor', '--detach-sign', '-o', sha1, manifestOf(ws, id)]).status).toBe(0);
      const weak = runJson(ws, ['sign', id, '--import-signature', sha1, '--key', join(keys, 'ops.pub.asc')]);
      expect(weak.code).toBe(1);
      expect(weak.error!.code).toBe('SIGNATURE_INVALID');
      expect(weak.error!.message).toMatch(/SHA1|weak|insecure/i);
    } finally {
      stopAgent(home);
    }
  });

  it('refuses bad keys and passphrases with exit 12 and writes nothing', () => {
    const { ws, id, keys, pass } = signedSetup();
    writeFileSync(join(keys, 'wrong.txt'), 'wrong\n');
    const sec = join(keys, 'release.sec.asc');
    writeFileSync(join(keys, 'truncated.asc'), readFileSync(sec, 'utf8').slice(0, 200));
    writeFileSync(join(keys, 'garbage.asc'), 'not a key at all');
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['--pgp-key', sec, '--passphrase-file', join(keys, 'wrong.txt')], {}, /wrong passphrase/],
      [['--pgp-key', sec], {}, /protected by a passphrase and none was given/],
      [['--pgp-key', join(keys, 'release.pub.asc'), '--passphrase-file', pass], {}, /is a public key; signing needs the secret key/],
      [['--pgp-key', join(keys, 'truncated.asc'), '--passphrase-file', pass], {}, /not a readable OpenPGP key/],
      [['--pgp-key', join(keys, 'garbage.asc'), '--passphrase-file', pass], {}, /not a readable OpenPGP key/],
      [['--pgp-key', join(keys, 'nope.asc')], {}, /cannot be read/],
      [[], { SNAPGOV_PGP_KEY: readFileSync(sec, 'utf8'), SNAPGOV_PGP_PASSPHRASE: 'nope' }, /wrong passphrase for SNAPGOV_PGP_KEY/],
    ];
    const before = readFileSync(join(ws, 'metadata', `${hex(id)}.json`));
    for (const [args, env, message] of cases) {
      const r = runJson(ws, ['sign', id, ...args], env);
      expect(r.code, args.join(' ')).toBe(12);
      expect(r.error!.code).toBe('KEY_ERROR');
      expect(r.error!.message).toMatch(message);
      expect(r.error!.hint).not.toBe('');
    }
    expect(existsSync(sigDir(ws, id))).toBe(false);
    expect(readFileSync(join(ws, 'metadata', `${hex(id)}.json`))).toEqual(before);
    expect(runJson(ws, ['sign', id]).error!.code).toBe('USAGE');
    expect(runJson(ws, ['sign', id, '--pgp-key', sec, '--sigstore-key', sec]).error!.code).toBe('USAGE');
  });

  it('catches truncated, foreign and swapped signatures, and expired keys', async () => {
    const { ws, id: a, keys, pass, fpr } = signedSetup();
    writeFileSync(join(ws, 'notes.txt'), 'second\n');
    const b = runJson<{ id: string }>(ws, ['create']).doc.id;
    const sec = ['--pgp-key', join(keys, 'release.sec.asc'), '--passphrase-file', pass];
    const sa = runJson<Signed>(ws, ['sign', a, ...sec]).doc;
    const sb = runJson<Signed>(ws, ['sign', b, ...sec]).doc;
    const pub = ['--key', join(keys, 'release.pub.asc')];
    // a signature over other bytes, and a truncated one, are not attached
    const foreign = runJson(ws, ['sign', b, '--import-signature', join(ws, 'metadata', sa.file), ...pub]);
    expect(foreign.code).toBe(1);
    expect(foreign.error!.code).toBe('SIGNATURE_INVALID');
    expect(foreign.error!.message).toMatch(/bad signature/);
    writeFileSync(join(keys, 'cut.asc'), readFileSync(join(ws, 'metadata', sa.file), 'utf8').slice(0, 120));
    const cut = runJson(ws, ['sign', a, '--import-signature', join(keys, 'cut.asc'), ...pub]);
    expect(cut.code).toBe(1);
    expect(cut.error!.message).toMatch(/not a readable OpenPGP signature|neither an armored/);
    // swap the two signature files: both snapshots fail verification, naming the file
    const fa = join(ws, 'metadata', sa.file);
    const fb = join(ws, 'metadata', sb.file);
    const [ta, tb] = [readFileSync(fa), readFileSync(fb)];
    writeFileSync(fa, tb);
    writeFileSync(fb, ta);
    const swapped = runJson<Verify>(ws, ['verify', a, b, ...pub]);
    expect(swapped.code).toBe(1);
    for (const s of swapped.doc.snapshots) {
      expect(s.signatures[0]).toMatchObject({ signer: fpr, valid: false, trusted: false });
      expect(s.signatures[0]!.reason).toMatch(/is not the recorded signature \(replaced or swapped\)/);
      expect(s.problems.map((p) => p.code)).toEqual(['SIGNATURE_INVALID']);
    }
    writeFileSync(fa, ta);
    writeFileSync(fb, tb);
    expect(runJson<Verify>(ws, ['verify', a, b, ...pub]).code).toBe(0);

    // a key that expires: good today, refused once expired
    const short = await openpgp.generateKey({ userIDs: [{ name: 'Short', email: 'short@example.com' }], keyExpirationTime: 2, format: 'armored' });
    writeFileSync(join(keys, 'short.sec.asc'), short.privateKey);
    writeFileSync(join(keys, 'short.pub.asc'), short.publicKey);
    expect(runJson(ws, ['sign', a, '--pgp-key', join(keys, 'short.sec.asc')]).code).toBe(0);
    await new Promise((r) => setTimeout(r, 3000));
    const expired = runJson<Verify>(ws, ['verify', a, '--key', join(keys, 'short.pub.asc')]);
    expect(expired.code).toBe(1);
    expect(expired.doc.snapshots[0]!.signatures.find((s) => s.signer !== fpr)!.reason).toMatch(/has expired/);
    expect(runJson(ws, ['sign', a, '--pgp-key', join(keys, 'short.sec.asc')]).error!.message).toMatch(/has expired/);

    // a revoked key: the trusted copy carries the revocation, and wins over the recorded key
    const key = await openpgp.readPrivateKey({ armoredKey: readFileSync(join(keys, 'release.sec.asc'), 'utf8') });
    const unlocked = await openpgp.decryptKey({ privateKey: key, passphrase: 'correct horse' });
    const revoked = await openpgp.revokeKey({ key: unlocked, format: 'armored' });
    writeFileSync(join(keys, 'revoked.pub.asc'), revoked.publicKey);
    const rv = runJson<Verify>(ws, ['verify', b, '--key', join(keys, 'revoked.pub.asc')]);
    expect(rv.code).toBe(1);
    expect(rv.doc.snapshots[0]!.signatures[0]).toMatchObject({ signer: fpr, valid: false, trusted: false, reason: `key ${fpr} is revoked` });
  });
});

describe('Sigstore key signing', () => {
  it('writes a standard v0.3 bundle, verified offline against trusted PEM keys', () => {
    const ws = sampleWorkspace();
    const a = runJson<{ id: string }>(ws, ['create']).doc.id;
    writeFileSync(join(ws, 'notes.txt'), 'second\n');
    const b = runJson<{ id: string }>(ws, ['create']).doc.id;
    const keys = tempDir('snapgov-keys-');
    const k = runJson<{ id: string; secretFile: string; publicFile: string }>(ws, ['keygen', '--sigstore', '-o', join(keys, 'cosign')]);
    expect(k.code).toBe(0);
    expect(statSync(k.doc.secretFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(k.doc.publicFile, 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const s = runJson<Signed>(ws, ['sign', a, '--sigstore-key', k.doc.secretFile]);
    expect(s.code).toBe(0);
    expect(s.doc).toMatchObject({ type: 'sigstore', method: 'key', signer: k.doc.id, file: expect.stringMatching(/\.sigstore\.json$/) as string });
    const bundle = readJsonFile<{ mediaType: string; verificationMaterial: { publicKey: { hint: string } }; messageSignature: { messageDigest: { digest: string } } }>(join(ws, 'metadata', s.doc.file));
    expect(bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    expect(bundle.verificationMaterial.publicKey.hint).toBe(k.doc.id);
    expect(Buffer.from(bundle.messageSignature.messageDigest.digest, 'base64').toString('hex')).toBe(hex(a));
    const v = runJson<Verify>(ws, ['verify', a, '--require-signature', '--key', k.doc.publicFile]);
    expect(v.code).toBe(0);
    expect(v.doc.snapshots[0]!.signatures[0]).toMatchObject({ type: 'sigstore', method: 'key', valid: true, trusted: true });
    // another key: valid, untrusted
    const other = runJson<{ publicFile: string }>(ws, ['keygen', '--sigstore', '-o', join(keys, 'other')]).doc;
    const u = runJson<Verify>(ws, ['verify', a, '--require-signature', '--key', other.publicFile]);
    expect(u.code).toBe(1);
    expect(u.doc.snapshots[0]!.signatures[0]).toMatchObject({ valid: true, trusted: false });
    // a bundle for another artifact is refused on import
    const foreign = runJson(ws, ['sign', b, '--import-signature', join(ws, 'metadata', s.doc.file), '--key', k.doc.publicFile]);
    expect(foreign.code).toBe(1);
    expect(foreign.error!.message).toMatch(/message digest is not the manifest's SHA-256/);
    // the private key where a public one is expected, and the reverse
    expect(runJson(ws, ['sign', a, '--sigstore-key', k.doc.publicFile]).code).toBe(12);
  });
});

describe('signatures across commands', () => {
  it('export/import carries signatures; prune removes them; create --sign uses the configured signer', () => {
    const { ws, id, keys, fpr } = signedSetup();
    const cfg = readJsonFile<Record<string, unknown>>(join(ws, 'snapgov.json'));
    writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, signing: { method: 'pgp', pgpKey: join(keys, 'release.sec.asc') } }));
    writeFileSync(join(ws, 'notes.txt'), 'signed at creation\n');
    const c = runJson<{ id: string; signature: { signer: string } }>(ws, ['create', '--sign'], { SNAPGOV_PGP_PASSPHRASE: 'correct horse' });
    expect(c.code, JSON.stringify(c.error)).toBe(0);
    expect(c.doc.signature.signer).toBe(fpr);
    const tar = join(tempDir(), 'snap.tar');
    expect(run(ws, ['export', c.doc.id, '-o', tar]).code).toBe(0);
    const other = tempDir();
    expect(run(other, ['init', '--no-index']).code).toBe(0);
    expect(run(other, ['import', tar]).code).toBe(0);
    expect(readdirSync(sigDir(other, c.doc.id))).toEqual([`${fpr}.asc`]);
    const v = runJson<Verify>(other, ['verify', '--all', '--require-signature', '--key', join(keys, 'release.pub.asc')]);
    expect(v.code).toBe(0);
    // prune removes the signature folder with the snapshot
    runJson(ws, ['sign', id, '--pgp-key', join(keys, 'release.sec.asc')], { SNAPGOV_PGP_PASSPHRASE: 'correct horse' });
    expect(existsSync(sigDir(ws, id))).toBe(true);
    rmSync(join(ws, 'notes.txt'));
    writeFileSync(join(ws, 'artifacts/rules/a.yaml'), 'rule: a3\n');
    writeFileSync(join(ws, 'artifacts/index.json'), JSON.stringify({ artifacts: [{ path: 'rules/a.yaml' }, { path: 'rules/b.yaml' }] }));
    runJson(ws, ['create']);
    expect(runJson(ws, ['prune', '1']).code).toBe(0);
    expect(existsSync(sigDir(ws, id))).toBe(false);
    expect(existsSync(sigDir(ws, c.doc.id))).toBe(false);
  });

  it('with a required trust policy, rollback refuses an untrusted target unless --allow-untrusted, which is audited', () => {
    const { ws, id, keys, pass, fpr } = signedSetup();
    writeFileSync(join(ws, 'notes.txt'), 'unsigned\n');
    const unsigned = runJson<{ id: string }>(ws, ['create']).doc.id;
    writeFileSync(join(ws, 'notes.txt'), 'third\n');
    runJson(ws, ['create']);
    const cfg = readJsonFile<Record<string, unknown>>(join(ws, 'snapgov.json'));
    writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, trust: { pgpKeys: [join(keys, 'release.pub.asc')], required: true } }));
    const refused = runJson(ws, ['rollback', unsigned, '--yes']);
    expect(refused.code).toBe(1);
    expect(refused.error!.code).toBe('TARGET_UNTRUSTED');
    expect(readFileSync(join(ws, 'notes.txt'), 'utf8')).toBe('third\n');
    // no REF: the last known good one skips the unsigned snapshot for the signed one
    runJson(ws, ['sign', id, '--pgp-key', join(keys, 'release.sec.asc'), '--passphrase-file', pass]);
    const lkg = runJson<{ to: string; chosen: { rejected: { id: string; problems: string[] }[] } }>(ws, ['rollback', '--yes']);
    expect(lkg.code, JSON.stringify(lkg.error)).toBe(0);
    expect(lkg.doc.to).toBe(id);
    expect(lkg.doc.chosen.rejected.find((r) => r.id === unsigned)!.problems[0]).toMatch(/^untrusted: /);
    const forced = runJson(ws, ['rollback', unsigned, '--yes', '--allow-untrusted', '--reason', 'hotfix']);
    expect(forced.code).toBe(0);
    const audit = runJson<{ entries: { action: string; to: string; details: { untrustedAllowed?: string } }[] }>(ws, ['audit']).doc.entries;
    expect(audit[audit.length - 1]!.details.untrustedAllowed).toMatch(/trusted signer/);
    expect(fpr).toHaveLength(40);
  });
});
