import { closeSync, constants, fstatSync, fsyncSync, ftruncateSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { appendProblem, lineHash, verifyChain, type AuditRecord, type ChainHead, type ChainProblem } from '../core/audit-chain.js';
import { SnapgovError } from '../errors.js';
import { validate } from '../schema.js';
import { currentActor } from '../util/actor.js';
import { atomicWriteFile, writeAllSync } from '../util/fsx.js';
import type { StoreLayout } from './layout.js';
import { listStatementDirs, readStatements } from './statements.js';

export type AuditInput = Omit<AuditRecord, 'seq' | 'prev' | 'time' | 'actor' | 'requestId'> & { time?: string };

/** One request ID per process run, so every line one command writes can be grouped. */
export const REQUEST_ID = randomUUID();

/** The last complete line of the log, cutting off a partial line left by a crash mid-append. */
function lastLine(fd: number): { line: string | null; end: number } {
  const size = fstatSync(fd).size;
  let chunk = 4096;
  for (;;) {
    const start = Math.max(0, size - chunk);
    const buf = Buffer.alloc(size - start);
    readSync(fd, buf, 0, buf.length, start);
    const text = buf.toString('utf8');
    let end = text.lastIndexOf('\n');
    if (end === -1 && start > 0) {
      chunk *= 4;
      continue;
    }
    if (end === -1) return { line: null, end: 0 };
    const complete = text.slice(0, end);
    const prevNl = complete.lastIndexOf('\n');
    if (prevNl === -1 && start > 0) {
      chunk *= 4;
      continue;
    }
    end += start + 1;
    return { line: complete.slice(prevNl + 1), end };
  }
}

/** The log opened for appending; null when it does not exist and `create` is false. */
function openLog(path: string, create: boolean): number | null {
  try {
    return openSync(path, constants.O_RDWR | constants.O_APPEND | (create ? constants.O_CREAT : 0), 0o644);
  } catch (e) {
    if (!create && (e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** Appends one record; callers hold the store's exclusive lock, which serializes appends. */
export async function appendAudit(l: StoreLayout, input: AuditInput): Promise<AuditRecord> {
  // Checked before the log is created or any torn tail cut: only what the head does not cover may be cut.
  const { head, problem: headProblem } = await readAuditHead(l);
  let fd = openLog(l.auditLog, false);
  const { line, end } = fd === null ? { line: null, end: 0 } : lastLine(fd);
  const problem = headProblem ?? appendProblem(line, head, line === null && head === null && hasSnapshots(l));
  if (problem) {
    if (fd !== null) closeSync(fd);
    throw new SnapgovError('STORE_CORRUPT', `the audit trail is damaged: ${problem}; nothing was changed`, 'run `snapgov audit verify`, and restore metadata/audit.log and metadata/audit.head from a backup; snapgov will not write over a trail that lost records');
  }
  fd ??= openLog(l.auditLog, true)!;
  try {
    if (end < fstatSync(fd).size) ftruncateSync(fd, end);
    let seq = 1;
    let prev: string | null = null;
    if (line !== null) {
      seq = (JSON.parse(line) as AuditRecord).seq + 1;
      prev = lineHash(line);
    }
    const { time, ...rest } = input;
    const rec: AuditRecord = { seq, time: time ?? new Date().toISOString(), actor: currentActor(), requestId: REQUEST_ID, ...rest, prev };
    const text = JSON.stringify(rec);
    writeAllSync(fd, Buffer.from(text + '\n'));
    fsyncSync(fd);
    const written: ChainHead = { seq, hash: lineHash(text) };
    atomicWriteFile(l.auditHead, JSON.stringify(written) + '\n');
    return rec;
  } finally {
    closeSync(fd);
  }
}

/** Whether the store holds any snapshot's metadata (a store that has had snapshots must have a trail). */
function hasSnapshots(l: StoreLayout): boolean {
  try {
    return readdirSync(l.metadata).some((n) => /^[0-9a-f]{64}\.json$/.test(n));
  } catch {
    return false;
  }
}

export function readAuditLines(l: StoreLayout): string[] {
  return [...auditLog(l).lines];
}

/**
 * The log's records, parsed (null for a line that is not JSON: `audit verify` reports it). Kept
 * while the file's inode, size and change time stay the same: a promotion reads the log once per
 * environment and per snapshot it looks at, and `audit verify --decisions` once per pin.
 */
export function readAuditRecords(l: StoreLayout): readonly (Readonly<AuditRecord> | null)[] {
  const log = auditLog(l);
  log.records ??= log.lines.map((line) => {
    try {
      return JSON.parse(line) as AuditRecord;
    } catch {
      return null;
    }
  });
  return log.records;
}

interface ReadLog {
  path: string;
  stamp: string;
  lines: string[];
  records?: (AuditRecord | null)[];
}
let lastRead: ReadLog | null = null;

function auditLog(l: StoreLayout): ReadLog {
  let stamp: string;
  let text: string;
  try {
    const st = statSync(l.auditLog, { bigint: true });
    stamp = `${st.ino}:${st.size}:${st.ctimeNs}`;
    if (lastRead?.path === l.auditLog && lastRead.stamp === stamp) return lastRead;
    text = readFileSync(l.auditLog, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { path: l.auditLog, stamp: '', lines: [] };
    throw e;
  }
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lastRead = { path: l.auditLog, stamp, lines };
  return lastRead;
}

async function readAuditHead(l: StoreLayout): Promise<{ head: ChainHead | null; problem: string | null }> {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(l.auditHead, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { head: null, problem: null };
    return { head: null, problem: 'audit.head is unreadable' };
  }
  return (await validate('audit-head', doc)).ok ? { head: doc as ChainHead, problem: null } : { head: null, problem: 'audit.head does not match its schema' };
}

const STATEMENT_ACTIONS = new Set(['approve', 'reject', 'rehearse']);

/**
 * Approvals, rejections and signed rehearsal results are files and audit records at once: a record whose statement file is
 * gone or changed (a deleted rejection) and a statement file no record names are both reported.
 */
function statementProblems(l: StoreLayout, recorded: readonly { line: number; rec: AuditRecord }[]): ChainProblem[] {
  const problems: ChainProblem[] = [];
  const named = new Set<string>();
  const snapshots = new Set<string>();
  for (const { line, rec } of recorded) {
    const d = rec.details as { statement?: unknown; file?: unknown } | undefined;
    if (!STATEMENT_ACTIONS.has(rec.action) || typeof d?.statement !== 'string' || typeof d.file !== 'string' || !rec.to) continue;
    named.add(d.statement);
    snapshots.add(rec.to);
    let bytes: Buffer | null = null;
    try {
      bytes = readFileSync(join(l.metadata, d.file));
    } catch {
      // reported below
    }
    if (bytes === null) problems.push({ line, message: `the statement of this ${rec.action} (${d.file}) is missing` });
    else if (`sha256:${createHash('sha256').update(bytes).digest('hex')}` !== d.statement) problems.push({ line, message: `the statement of this ${rec.action} (${d.file}) was changed` });
  }
  for (const dir of listStatementDirs(l)) snapshots.add(`sha256:${dir}`);
  for (const id of snapshots) {
    for (const s of readStatements(l, id)) {
      const digest = `sha256:${createHash('sha256').update(s.text).digest('hex')}`;
      if (!named.has(digest)) problems.push({ line: 0, message: `the statement ${s.file} has no audit record` });
    }
  }
  return problems;
}

export async function verifyAudit(l: StoreLayout) {
  const lines = readAuditLines(l);
  const cut = lines.length > 0 && !readFileSync(l.auditLog, 'utf8').endsWith('\n');
  const { head, problem } = await readAuditHead(l);
  const res = verifyChain(lines, head);
  if (problem) res.problems.push({ line: 0, message: problem });
  if (!head && !problem && lines.length > 0) res.problems.push({ line: 0, message: 'audit.head is missing while the log has lines' });
  if (cut) res.problems.push({ line: lines.length, message: 'the last line has no line break: the log was cut (an append never leaves it so)' });
  if (!head && !problem && lines.length === 0 && hasSnapshots(l)) res.problems.push({ line: 0, message: 'the audit log and its head are missing while the store holds snapshots' });
  const recorded: { line: number; rec: AuditRecord }[] = [];
  for (let i = 0; i < lines.length; i++) {
    let doc: unknown;
    try {
      doc = JSON.parse(lines[i]!);
    } catch {
      continue; // already reported by verifyChain
    }
    const v = await validate('audit-record', doc);
    if (!v.ok) res.problems.push({ line: i + 1, message: `record does not match the schema: ${v.errors.join('; ')}` });
    else recorded.push({ line: i + 1, rec: doc as AuditRecord });
  }
  res.problems.push(...statementProblems(l, recorded));
  res.problems.sort((a, b) => a.line - b.line);
  return { ...res, ok: res.problems.length === 0 };
}
