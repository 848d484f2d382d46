// Registry credentials, in the order a careful user expects: snapgov's environment variables (or a
// password on stdin), Docker's config.json (credHelpers, credsStore, auths), containers' auth.json,
// then none (anonymous). Secrets stay in memory: never printed, logged or recorded.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { SnapgovError } from '../errors.js';

export interface Credentials {
  username?: string;
  password?: string;
  /** A registry bearer token, sent as it is. */
  token?: string;
  /** Where they came from, for messages (never the secret). */
  source: string;
}

interface AuthFile {
  auths?: Record<string, { auth?: string; identitytoken?: string; username?: string; password?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

function readAuthFile(path: string): AuthFile | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  try {
    return JSON.parse(text) as AuthFile;
  } catch {
    throw new SnapgovError('CONFIG_INVALID', `${path} is not JSON`, 'fix or remove the file (docker login / podman login write it)');
  }
}

/** The key of an `auths` entry names this registry exactly: `host[:port]`, with or without a scheme and path. */
function authKeyMatches(key: string, registry: string): boolean {
  const bare = key.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  return bare === registry;
}

function fromHelper(helper: string, registry: string, file: string): Credentials | null {
  if (!/^[A-Za-z0-9._-]+$/.test(helper)) throw new SnapgovError('CONFIG_INVALID', `${file} names the credential helper ${JSON.stringify(helper)}`, 'a helper is a name such as "pass" or "ecr-login" (docker-credential-NAME)');
  const r = spawnSync(`docker-credential-${helper}`, ['get'], { input: registry, encoding: 'utf8', timeout: 30_000 });
  if (r.error || r.status !== 0) return null; // the helper has nothing for this registry
  try {
    const doc = JSON.parse(r.stdout) as { Username?: string; Secret?: string };
    if (!doc.Secret) return null;
    return doc.Username === '<token>' ? { token: doc.Secret, source: `docker-credential-${helper}` } : { username: doc.Username ?? '', password: doc.Secret, source: `docker-credential-${helper}` };
  } catch {
    return null;
  }
}

function fromFile(file: string, registry: string): Credentials | null {
  const doc = readAuthFile(file);
  if (!doc) return null;
  const helper = doc.credHelpers?.[registry];
  if (helper) return fromHelper(helper, registry, file);
  for (const [key, entry] of Object.entries(doc.auths ?? {})) {
    if (!authKeyMatches(key, registry)) continue;
    if (entry.identitytoken) return { token: entry.identitytoken, source: file };
    if (entry.auth) {
      const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = plain.indexOf(':');
      if (colon > 0) return { username: plain.slice(0, colon), password: plain.slice(colon + 1), source: file };
    }
    if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password, source: file };
  }
  if (doc.credsStore) return fromHelper(doc.credsStore, registry, file);
  return null;
}

export function findCredentials(registry: string, env: NodeJS.ProcessEnv, stdinPassword: string | null): Credentials | null {
  const user = env.SNAPGOV_REGISTRY_USERNAME;
  const password = stdinPassword ?? env.SNAPGOV_REGISTRY_PASSWORD;
  if (user !== undefined && password !== undefined) return { username: user, password, source: stdinPassword !== null ? '--password-stdin' : 'SNAPGOV_REGISTRY_USERNAME/PASSWORD' };
  if (stdinPassword !== null) throw new SnapgovError('USAGE', '--password-stdin needs a user name', 'set SNAPGOV_REGISTRY_USERNAME');
  if (env.SNAPGOV_REGISTRY_TOKEN) return { token: env.SNAPGOV_REGISTRY_TOKEN, source: 'SNAPGOV_REGISTRY_TOKEN' };
  const home = env.HOME ?? homedir();
  const files = [
    join(env.DOCKER_CONFIG ?? join(home, '.docker'), 'config.json'),
    ...(env.REGISTRY_AUTH_FILE ? [env.REGISTRY_AUTH_FILE] : []),
    ...(env.XDG_RUNTIME_DIR ? [join(env.XDG_RUNTIME_DIR, 'containers/auth.json')] : []),
    join(home, '.config/containers/auth.json'),
  ];
  for (const f of files) {
    const c = fromFile(f, registry);
    if (c) return c;
  }
  return null;
}
