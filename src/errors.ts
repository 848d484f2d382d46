/** One error type for the whole tool; the code decides the exit status (see EXIT_STATUS). */
export type ErrorCode =
  | 'USAGE'
  | 'CONFIG_INVALID'
  | 'CONFIG_EXISTS'
  | 'REF_UNKNOWN'
  | 'REF_AMBIGUOUS'
  | 'NO_WORKSPACE'
  | 'LOCKED'
  | 'KEY_ERROR'
  | 'INTERRUPTED'
  | 'CANCELLED'
  | 'INDEX_INCONSISTENT'
  | 'TARGET_INVALID'
  | 'TARGET_UNTRUSTED'
  | 'SIGNATURE_INVALID'
  | 'NOT_AUTHORIZED'
  | 'PROMOTION_DENIED'
  | 'PROMOTION_DEFERRED'
  | 'PENDING_AUDIT'
  | 'ROLLBACK_BLOCKED'
  | 'FILE_UNREADABLE'
  | 'STORE_CORRUPT'
  | 'ARCHIVE_INVALID'
  | 'ARCHIVE_UNSAFE'
  | 'NOT_AN_EXPORT'
  | 'NO_SPACE'
  | 'IO_ERROR'
  | 'REMOTE_UNREACHABLE'
  | 'REMOTE_AUTH'
  | 'REMOTE_NOT_FOUND'
  | 'REMOTE_INVALID'
  | 'REMOTE_ERROR'
  | 'INTERNAL';

/** The exit-code contract (README "Exit codes" must agree; a test checks it). */
export const EXIT_STATUS: Record<ErrorCode, number> = {
  USAGE: 2,
  CONFIG_INVALID: 2,
  CONFIG_EXISTS: 2,
  REF_UNKNOWN: 2,
  REF_AMBIGUOUS: 2,
  NOT_AN_EXPORT: 2,
  NO_WORKSPACE: 10,
  LOCKED: 11,
  KEY_ERROR: 12,
  INTERRUPTED: 130,
  CANCELLED: 1,
  INDEX_INCONSISTENT: 1,
  TARGET_INVALID: 1,
  TARGET_UNTRUSTED: 1,
  SIGNATURE_INVALID: 1,
  NOT_AUTHORIZED: 1,
  PROMOTION_DENIED: 1,
  PROMOTION_DEFERRED: 4,
  PENDING_AUDIT: 1,
  ROLLBACK_BLOCKED: 1,
  FILE_UNREADABLE: 1,
  STORE_CORRUPT: 1,
  ARCHIVE_INVALID: 1,
  ARCHIVE_UNSAFE: 1,
  NO_SPACE: 1,
  IO_ERROR: 1,
  // A registry: down or not one (1), refusing the credentials (12, as a wrong passphrase), without
  // the tag or repository asked for (2, as an unknown REF), answering what is not a snapgov
  // snapshot or bytes that do not match their digest (1), or failing otherwise (1).
  REMOTE_UNREACHABLE: 1,
  REMOTE_AUTH: 12,
  REMOTE_NOT_FOUND: 2,
  REMOTE_INVALID: 1,
  REMOTE_ERROR: 1,
  INTERNAL: 1,
};

export const EXIT_PARTIAL = 3;

export class SnapgovError extends Error {
  readonly code: ErrorCode;
  readonly hint: string;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, hint = '', details?: unknown, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SnapgovError';
    this.code = code;
    this.hint = hint;
    this.details = details;
  }

  get exitStatus(): number {
    return EXIT_STATUS[this.code];
  }
}

/** Turns an unexpected Node error into a SnapgovError with a useful code and hint. */
export function toSnapgovError(err: unknown): SnapgovError {
  if (err instanceof SnapgovError) return err;
  const e = err as NodeJS.ErrnoException;
  const where = e?.path ? ` (${e.path})` : '';
  switch (e?.code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new SnapgovError('NO_SPACE', `no space left on device${where}`, 'free some space (snapgov prune, or a larger disk) and run the command again; the store was left valid', undefined, { cause: err });
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new SnapgovError('IO_ERROR', `permission denied${where}`, 'check the ownership and permissions of the workspace and the store folders', undefined, { cause: err });
    default:
      if (e && typeof e.code === 'string' && e.code.startsWith('E')) {
        return new SnapgovError('IO_ERROR', `${e.message}`, 'this is an operating-system error; check the path and try again', undefined, { cause: err });
      }
      return new SnapgovError('INTERNAL', e?.message ?? String(err), 'this is a bug in snapgov; please report it with the command you ran', undefined, { cause: err });
  }
}
