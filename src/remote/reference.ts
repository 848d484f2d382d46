// Where a remote snapshot lives: `oci://HOST[:PORT]/REPOSITORY[:TAG|@sha256:DIGEST]`, or the name of
// an entry in snapgov.json's `remotes` (then `NAME[:TAG|@DIGEST]`).
import { resolve } from 'node:path';
import type { Workspace } from '../config/config.js';
import { SnapgovError } from '../errors.js';

export interface RemoteRef {
  /** `host[:port]`, as registries and credential stores name it. */
  registry: string;
  host: string;
  port: number | null;
  repository: string;
  tag: string | null;
  digest: string | null;
  plainHttp: boolean;
  caFile: string | null;
  /** The remote as the user wrote it, for messages and the audit log (never holds credentials). */
  display: string;
}

// The distribution spec's grammar for repository names and tags.
const REPOSITORY = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
export const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const HOST = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)$/;

/** Loopback hosts talk plain HTTP, as Docker and ORAS allow. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

const usage = (text: string, why: string) => new SnapgovError('USAGE', `${JSON.stringify(text)} is not a remote: ${why}`, 'write oci://HOST[:PORT]/REPOSITORY[:TAG] (for example oci://ghcr.io/acme/artifacts:prod), or the name of an entry in "remotes" of snapgov.json');

/** Splits `...REPO[:TAG|@DIGEST]`: the last colon after the last slash starts a tag. */
function splitReference(rest: string): { path: string; tag: string | null; digest: string | null } {
  const at = rest.indexOf('@');
  if (at !== -1) return { path: rest.slice(0, at), tag: null, digest: rest.slice(at + 1) };
  const slash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', slash + 1);
  return colon === -1 ? { path: rest, tag: null, digest: null } : { path: rest.slice(0, colon), tag: rest.slice(colon + 1), digest: null };
}

export function parseRemote(text: string, ws: Workspace): RemoteRef {
  // Credentials in the URL would end up in shell history, CI logs and the audit log: refused without repeating them.
  if (/^oci:\/\/[^/]*@/.test(text)) throw new SnapgovError('USAGE', 'a remote must not carry credentials (user:password@host)', 'set SNAPGOV_REGISTRY_USERNAME and SNAPGOV_REGISTRY_PASSWORD (or --password-stdin), or log in with docker/podman');
  if (/[\s\u0000-\u001f\u007f]/.test(text)) throw usage(text, 'it holds white space or a control character');
  let url = text;
  let caFile: string | null = null;
  let plainHttpSetting: boolean | null = null;
  let suffix = '';
  if (!text.startsWith('oci://')) {
    const m = /^([a-z0-9][a-z0-9._-]{0,63})((?::|@).*)?$/.exec(text);
    const named = m ? ws.config.remotes[m[1]!] : undefined;
    if (!m || !named) {
      const known = Object.keys(ws.config.remotes);
      throw usage(text, known.length ? `it is not oci://… nor one of the configured remotes (${known.join(', ')})` : 'it does not start with oci:// and snapgov.json names no remotes');
    }
    url = named.url;
    suffix = m[2] ?? '';
    caFile = named.caFile !== null ? resolve(ws.root, named.caFile) : null;
    plainHttpSetting = named.plainHttp;
    if (suffix && /[:@]/.test(url.slice(url.lastIndexOf('/') + 1))) throw usage(text, `the remote ${m[1]} already names a tag or digest`);
  }
  const body = url.slice('oci://'.length) + suffix;
  const slash = body.indexOf('/');
  if (slash <= 0) throw usage(text, 'it names no repository after the host');
  const registry = body.slice(0, slash);
  const hp = /^(.*?)(?::(\d{1,5}))?$/.exec(registry)!;
  const host = hp[1]!;
  const port = hp[2] !== undefined ? Number(hp[2]) : null;
  if (!HOST.test(host) || (port !== null && (port < 1 || port > 65535))) throw usage(text, `${JSON.stringify(registry)} is not a host name with an optional port`);
  const { path, tag, digest } = splitReference(body.slice(slash + 1));
  if (!REPOSITORY.test(path)) throw usage(text, `${JSON.stringify(path)} is not a repository name (lower-case letters and digits, separated by ".", "_", "-" or "/")`);
  if (registry.length + 1 + path.length > 255) throw usage(text, 'host and repository together are longer than 255 characters');
  if (tag !== null && !TAG.test(tag)) throw usage(text, `${JSON.stringify(tag)} is not a tag (letters, digits, "_", "." and "-", at most 128)`);
  if (digest !== null && !DIGEST.test(digest)) throw usage(text, `${JSON.stringify(digest)} is not a sha256 digest`);
  return { registry, host, port, repository: path, tag, digest, plainHttp: plainHttpSetting ?? isLoopback(host), caFile, display: text };
}

/** The same repository with another tag (or none). */
export function withTag(ref: RemoteRef, tag: string | null): RemoteRef {
  return { ...ref, tag, digest: null };
}
