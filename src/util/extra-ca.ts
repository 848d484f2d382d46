import { SnapgovError } from '../errors.js';

/**
 * bin/snapgov hands NODE_EXTRA_CA_CERTS over under this name to commands that make no TLS
 * connection: Node 20 loads its root certificates at start-up whenever the variable is set.
 */
const DEFERRED_EXTRA_CA = 'SNAPGOV_DEFERRED_NODE_EXTRA_CA_CERTS';

let deferred = false;

/** Puts the variable back, first thing, so that every child process (gates, git, gpg) sees the environment the user set. */
export function restoreExtraCaCerts(): void {
  const env = process.env;
  const value = env[DEFERRED_EXTRA_CA];
  if (value === undefined) return;
  delete env[DEFERRED_EXTRA_CA];
  env.NODE_EXTRA_CA_CERTS = value;
  deferred = true;
}

/**
 * Called before a TLS connection. Node reads NODE_EXTRA_CA_CERTS only at start-up, so a process
 * the launcher started without it would not trust the user's certificate authorities.
 */
export function assertExtraCaLoaded(): void {
  if (deferred)
    throw new SnapgovError('INTERNAL', 'this command was started without the certificates of NODE_EXTRA_CA_CERTS, which its TLS connections need', 'run it as node <package>/bin/snapgov …, and report the command line: bin/snapgov decides which commands keep the variable');
}
