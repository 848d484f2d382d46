import { sha256Hex } from './manifest.js';

/** One line of the audit log. `prev` is the SHA-256 of the previous line's bytes (null for the first). */
export interface AuditRecord {
  seq: number;
  time: string;
  actor: { user: string; host: string };
  action: string;
  from?: string;
  to?: string;
  snapshots?: string[];
  reason?: string;
  requestId: string;
  outcome: 'success' | 'failure' | 'partial';
  details?: Record<string, unknown>;
  prev: string | null;
}

export interface ChainHead {
  seq: number;
  hash: string;
}

export interface ChainProblem {
  line: number;
  message: string;
}

export function lineHash(line: string): string {
  return `sha256:${sha256Hex(line)}`;
}

/**
 * Checks a hash chain: every line parses, sequence numbers count up from 1, each `prev` is the hash
 * of the line before, and the recorded head (written after each append) is not beyond the end, so
 * removing the newest lines is caught too.
 */
export function verifyChain(lines: readonly string[], head: ChainHead | null): { ok: boolean; entries: number; problems: ChainProblem[] } {
  const problems: ChainProblem[] = [];
  let prevHash: string | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    let rec: Partial<AuditRecord>;
    try {
      rec = JSON.parse(line) as Partial<AuditRecord>;
    } catch {
      problems.push({ line: i + 1, message: 'line is not JSON' });
      prevHash = lineHash(line);
      continue;
    }
    if (rec.seq !== i + 1) problems.push({ line: i + 1, message: `sequence number ${String(rec.seq)} where ${i + 1} was expected (a line was removed, inserted or reordered)` });
    if (rec.prev !== prevHash) problems.push({ line: i + 1, message: 'previous-line hash does not match (an earlier line was edited, removed or reordered)' });
    prevHash = lineHash(line);
  }
  if (head) {
    if (head.seq > lines.length) {
      problems.push({ line: lines.length, message: `the log ends at line ${lines.length} but line ${head.seq} was recorded (lines were removed from the end)` });
    } else if (head.seq >= 1 && lineHash(lines[head.seq - 1]!) !== head.hash) {
      problems.push({ line: head.seq, message: 'line does not match the recorded head hash' });
    }
  }
  return { ok: problems.length === 0, entries: lines.length, problems };
}

/**
 * Whether the log may be appended to, given its last complete line and the head: the head names
 * that line, or the line before it (a crash after the line was synced and before the head was
 * written). Only bytes after such a line were never acknowledged and may be cut as a torn write;
 * a log shorter than its head lost committed lines, and a store with snapshots and no trail at
 * all lost its log. Returns the problem, or null.
 */
export function appendProblem(last: string | null, head: ChainHead | null, hasSnapshots: boolean): string | null {
  if (!head) {
    if (last !== null) return 'audit.head is missing while the log has lines';
    return hasSnapshots ? 'the audit log and its head are missing while the store holds snapshots' : null;
  }
  if (last === null) return `the audit log is empty or missing, but its head records line ${head.seq}`;
  let rec: Partial<AuditRecord>;
  try {
    rec = JSON.parse(last) as Partial<AuditRecord>;
  } catch {
    return 'the last complete line of the audit log is not JSON';
  }
  if (rec.seq === head.seq) return lineHash(last) === head.hash ? null : `line ${head.seq} of the audit log does not match the recorded head`;
  if (rec.seq === head.seq + 1 && rec.prev === head.hash) return null;
  if (typeof rec.seq === 'number' && rec.seq < head.seq) return `the audit log ends at line ${rec.seq} but line ${head.seq} was recorded: committed lines were cut`;
  return `the last line of the audit log (${String(rec.seq)}) does not follow the recorded head (${head.seq})`;
}
