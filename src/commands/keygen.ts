import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve, sep } from 'node:path';
import { findWorkspaceRoot, loadWorkspace } from '../config/config.js';
import { managedPathTest } from '../scan/walk.js';
import type { ChalkInstance } from 'chalk';
import { SnapgovError } from '../errors.js';
import { outcome, type GlobalOptions, type Outcome } from '../output.js';
import { generatePgpKey } from '../signing/pgp.js';
import { generateSigstoreKey } from '../signing/sigstore.js';
import { atomicWriteFile, ensureDir } from '../util/fsx.js';
import { askSecret, canAsk } from '../util/prompt.js';

export interface KeygenOptions {
  pgp?: boolean;
  sigstore?: boolean;
  name?: string;
  email?: string;
  output?: string;
  passphraseFile?: string;
  force?: boolean;
}

export interface KeygenResult {
  type: 'pgp' | 'sigstore';
  /** OpenPGP fingerprint or Sigstore key hint. */
  id: string;
  secretFile: string;
  publicFile: string;
  protected: boolean;
}

/** Writes a new key pair; the secret file is created with mode 0600 and never overwritten without --force. */
export async function keygen(o: KeygenOptions, g: GlobalOptions): Promise<Outcome<KeygenResult>> {
  if (!!o.pgp === !!o.sigstore) throw new SnapgovError('USAGE', 'choose --pgp or --sigstore', `snapgov keygen --pgp --name N --email E -o ${KEY_HOME}/NAME, or snapgov keygen --sigstore -o ${KEY_HOME}/NAME`);
  if (!o.output) throw new SnapgovError('USAGE', 'missing -o PREFIX', `for example -o ${KEY_HOME}/release (outside the workspace)`);
  const [secretFile, publicFile] = o.pgp ? [`${o.output}.sec.asc`, `${o.output}.pub.asc`] : [`${o.output}.key`, `${o.output}.pub`];
  for (const f of [secretFile, publicFile]) if (existsSync(f) && !o.force) throw new SnapgovError('USAGE', `${f} already exists`, 'choose another -o PREFIX, or --force to replace the pair');
  await refuseManaged(resolve(secretFile));
  ensureDir(dirname(resolve(secretFile)));
  let result: KeygenResult;
  if (o.pgp) {
    if (!o.name || !o.email) throw new SnapgovError('USAGE', 'an OpenPGP key needs --name and --email', `snapgov keygen --pgp --name "Release Bot" --email release@example.com -o ${KEY_HOME}/release`);
    // OpenPGP.js refuses some addresses (no dot in the domain, spaces): that is the user's input, not a bug.
    if (!/^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/.test(o.email)) throw new SnapgovError('USAGE', `--email ${JSON.stringify(o.email)} is not an e-mail address OpenPGP accepts`, 'give an address such as release@example.com');
    const passphrase = o.passphraseFile ? readFileSync(o.passphraseFile, 'utf8').replace(/\r?\n$/, '') : (process.env.SNAPGOV_PGP_PASSPHRASE ?? (canAsk(g.json) ? await newPassphrase() : null));
    const k = await generatePgpKey(o.name, o.email, passphrase || null);
    atomicWriteFile(secretFile, k.secret, { mode: 0o600 });
    atomicWriteFile(publicFile, k.public);
    result = { type: 'pgp', id: k.fingerprint, secretFile, publicFile, protected: !!passphrase };
  } else {
    const k = generateSigstoreKey();
    atomicWriteFile(secretFile, k.privatePem, { mode: 0o600 });
    atomicWriteFile(publicFile, k.publicPem);
    result = { type: 'sigstore', id: k.hint, secretFile, publicFile, protected: false };
  }
  const warnings = result.protected ? [] : [`${secretFile} is not protected by a passphrase: keep it readable only by the signer`];
  return outcome(result, renderKeygen, 0, warnings);
}

/** Typed twice at the terminal, as gpg and cosign ask for a new key's passphrase; empty for none. */
async function newPassphrase(): Promise<string> {
  const first = await askSecret('Passphrase for the new key (empty for none): ');
  if (first === '') return first;
  if ((await askSecret('Repeat the passphrase: ')) !== first) throw new SnapgovError('USAGE', 'the two passphrases differ; no key was written', 'run snapgov keygen again');
  return first;
}

/** Where the hints put secret keys: the user's own folder, never the workspace. */
const KEY_HOME = '~/.config/snapgov/keys';

/**
 * A secret key inside the managed tree would be copied into the store by the next create, into
 * every export, and restored or deleted by rollbacks: refused, whatever the exclusions were when
 * the snapshots before it were taken.
 */
async function refuseManaged(secretFile: string): Promise<void> {
  const root = findWorkspaceRoot(dirname(secretFile));
  if (!root) return;
  // A workspace that does not load cannot snapshot either; its own commands report why.
  const ws = await loadWorkspace(root).catch(() => null);
  if (!ws) return;
  const rel = relative(ws.root, secretFile).split(sep).join('/');
  if (managedPathTest(ws)(rel)) {
    throw new SnapgovError('USAGE', `${secretFile} is inside the managed tree of ${ws.root}: the next snapshot would copy the secret key into the store and every export`, `write it outside the workspace (for example -o ${KEY_HOME}/release), or exclude it in snapgov.json ("exclude": [..., "${rel}"])`);
  }
}

function renderKeygen(r: KeygenResult, s: ChalkInstance): string {
  return [`${s.green('created')} ${r.type === 'pgp' ? 'OpenPGP' : 'Sigstore (ECDSA P-256)'} key ${s.bold(r.id)}`, `  secret: ${r.secretFile} (mode 0600)`, `  public: ${r.publicFile} (add it to "trust" in snapgov.json)`].join('\n');
}
